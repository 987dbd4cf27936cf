namespace SonicVerse.Kernels;

/// <summary>Shapes of one attention call (see IOps.Attention).</summary>
public readonly record struct AttentionShape(int Queries, int QueryHeads, int KvHeads, int HeadDim, int KeyCount,
    int FirstQueryPosition, int SlidingWindow, float Scale)
{
    /// <summary>First visible key of query <paramref name="i"/>: 0 when bidirectional (FirstQueryPosition &lt; 0) or
    /// without a window, else the oldest of the last SlidingWindow keys up to the query's own position.</summary>
    public int FirstKey(int i) =>
        FirstQueryPosition < 0 || SlidingWindow <= 0 ? 0 : Math.Max(0, FirstQueryPosition + i - SlidingWindow + 1);

    /// <summary>Last visible key of query <paramref name="i"/>: every key when bidirectional, else its own position.</summary>
    public int LastKey(int i) => FirstQueryPosition < 0 ? KeyCount - 1 : Math.Min(FirstQueryPosition + i, KeyCount - 1);
}

/// <summary>Shapes of one Conv1d call: x [InChannels, Length] → y [OutChannels, OutLength], w [OutChannels,
/// InChannels/Groups, Kernel].</summary>
public readonly record struct ConvShape(int InChannels, int Length, int OutChannels, int Kernel, int Stride, int Padding,
    int Groups)
{
    public int OutLength => (Length + 2 * Padding - Kernel) / Stride + 1;
    public int InPerGroup => InChannels / Groups;
    public int OutPerGroup => OutChannels / Groups;
}
