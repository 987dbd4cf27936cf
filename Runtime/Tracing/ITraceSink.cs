namespace SonicVerse.Runtime.Tracing;

/// <summary>Receives named intermediate activations (llama.cpp's eval callback): a mismatch against the reference kit
/// then points at the first stage that diverges. Names are dotted (<c>mert.hidden_states.3</c>); shapes are in
/// memory-layout order, outermost first.</summary>
public interface ITraceSink
{
    /// <summary>Whether <paramref name="name"/> should be recorded; models ask first, since a record costs a download.</summary>
    bool Wants(string name);

    void Record(string name, int[] shape, ReadOnlySpan<float> values);
}
