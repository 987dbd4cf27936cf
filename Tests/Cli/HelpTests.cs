using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Cli;

/// <summary><c>sonicverse VERB --help</c>: the verb's usage on stdout and exit 0, never "--help needs a value" (which
/// every verb but describe answered until session 19).</summary>
public class HelpTests
{
    [Theory]
    [InlineData("inspect", "--help")]
    [InlineData("generate", "--help")]
    [InlineData("tokenize", "-h")]
    [InlineData("caption", "--help")]
    [InlineData("describe", "--help")]
    [InlineData("trace", "--help")]
    [InlineData("bench", "-h")]
    [InlineData("check-kernels", "--help")]
    public void EveryVerbAnswersHelp(string verb, string flag)
    {
        var r = CliRunner.Run(verb, flag);
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Stderr}");
        Assert.StartsWith($"usage: sonicverse {verb} ", r.Stdout);
        Assert.Equal("", r.Stderr);
        if (verb != "describe") Assert.Contains("--device auto|cuda|cpu|ilgpu-cpu", r.Stdout);
    }

    [Fact]
    public void HelpAfterOtherFlagsIsStillHelp()
    {
        var r = CliRunner.Run("caption", "clip.wav", "--device", "cpu", "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("usage: sonicverse caption ", r.Stdout);
    }

    [Fact]
    public void AnUnknownVerbWithHelpIsAUsageError()
    {
        var r = CliRunner.Run("decribe", "--help");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("unknown verb 'decribe'", r.Stderr);
    }
}
