namespace SonicVerse.Loader;

/// <summary>The one error type of the loader: names the file, the tensor (when there is one) and what was expected vs found.</summary>
public sealed class LoaderException : Exception
{
    public string FilePath { get; }
    public string? TensorName { get; }

    public LoaderException(string filePath, string? tensorName, string problem, Exception? inner = null)
        : base(Format(filePath, tensorName, problem), inner)
    {
        FilePath = filePath;
        TensorName = tensorName;
    }

    public LoaderException(string filePath, string problem, Exception? inner = null) : this(filePath, null, problem, inner) { }

    static string Format(string file, string? tensor, string problem) =>
        tensor is null ? $"{file}: {problem}" : $"{file}: tensor '{tensor}': {problem}";
}
