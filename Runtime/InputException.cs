namespace SonicVerse.Runtime;

/// <summary>Bad user input that is not a weight file: unsupported or corrupt audio, silence, a clip too short.
/// The message names the file and the problem.</summary>
public sealed class InputException(string message, Exception? inner = null) : Exception(message, inner);
