using BenchmarkDotNet.Running;

// dotnet run -c Release --project Benchmarks -- --filter '*MatVec*'
// Kernel families: MatVec, Gemm, Attention, Mert, Projector, NormRope; each over the devices this machine has.
BenchmarkSwitcher.FromAssembly(typeof(SonicVerse.Benchmarks.DeviceBenchmark).Assembly).Run(args);
