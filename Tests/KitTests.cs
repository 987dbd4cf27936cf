using SonicVerse.Tests.Support;

namespace SonicVerse.Tests;

public class KitTests
{
    [Fact]
    public void ReferenceKitIsPresent()
    {
        Assert.True(File.Exists(Path.Combine(ReferenceKit.Root, "MANIFEST.md")));
    }
}
