using System.Runtime.ExceptionServices;

namespace SonicVerse.Kernels.Cpu;

/// <summary>One parallel kernel call: <see cref="Run"/> is called once for every index in [0, count), from the caller and
/// from thread-pool threads. Kernels keep one instance per calling thread and set its fields before each call, so a
/// decode step allocates nothing (Parallel.For allocates its closure and loop state on every call).</summary>
public abstract class ParallelJob
{
    public abstract void Run(int index);
}

/// <summary>
/// An allocation-free parallel for over the .NET thread pool: the caller queues one pooled work item per extra core,
/// takes indices itself, and returns when every index has run. Late work items find no indices left and just hand their
/// batch back; the caller never waits for a thread that has not started. Nested or concurrent calls stay correct
/// (each call owns its batch).
/// </summary>
public static class CpuParallel
{
    /// <summary>Threads one call uses at most (the caller included).</summary>
    public static int Threads { get; } = Environment.ProcessorCount;

    static readonly Stack<Batch> free = new();

    /// <summary>Runs job.Run(i) for i in [0, count); exceptions are rethrown on the caller.</summary>
    public static void For(int count, ParallelJob job)
    {
        if (count <= 0) return;
        if (count == 1 || Threads == 1)
        {
            for (int i = 0; i < count; i++) job.Run(i);
            return;
        }
        var batch = Rent();
        int helpers = Math.Min(Threads, count) - 1;
        batch.Start(job, count, helpers);
        for (int h = 0; h < helpers; h++) ThreadPool.UnsafeQueueUserWorkItem(batch, preferLocal: false);
        batch.Work();
        batch.WaitAndRelease();
    }

    /// <summary>Chunks for <paramref name="items"/> items of <paramref name="work"/> multiply-adds each: one when the whole
    /// call is too small to pay for waking a thread, else a few per thread so a descheduled core does not stall the call.</summary>
    public static int Chunks(int items, long work)
    {
        const long Minimum = 1 << 15;
        if (items <= 1 || (long)items * work < Minimum || Threads == 1) return 1;
        return Math.Min(items, Threads * 4);
    }

    static Batch Rent()
    {
        lock (free)
            if (free.Count > 0) return free.Pop();
        return new Batch();
    }

    static void Return(Batch batch)
    {
        lock (free) free.Push(batch);
    }

    sealed class Batch : IThreadPoolWorkItem
    {
        readonly ManualResetEventSlim done = new(false);
        ParallelJob? job;
        int count, next, remaining, references;
        Exception? error;

        public void Start(ParallelJob work, int indices, int helpers)
        {
            job = work;
            count = indices;
            next = 0;
            remaining = indices;
            error = null;
            done.Reset();
            references = helpers + 1;
        }

        public void Execute()
        {
            Work();
            Release();
        }

        public void Work()
        {
            int i;
            while ((i = Interlocked.Increment(ref next) - 1) < count)
            {
                try { job!.Run(i); }
                catch (Exception e) { Interlocked.CompareExchange(ref error, e, null); }
                if (Interlocked.Decrement(ref remaining) == 0) done.Set();
            }
        }

        public void WaitAndRelease()
        {
            var spin = new SpinWait();
            while (Volatile.Read(ref remaining) > 0 && !spin.NextSpinWillYield) spin.SpinOnce();
            done.Wait();
            var failure = error;
            job = null;
            Release();
            if (failure is not null) ExceptionDispatchInfo.Capture(failure).Throw();
        }

        void Release()
        {
            if (Interlocked.Decrement(ref references) == 0) Return(this);
        }
    }
}
