using System.Buffers.Binary;

namespace SonicVerse.Loader;

/// <summary>Opens any supported weight file or folder, choosing the reader by content, not by extension.</summary>
public static class CheckpointFile
{
    /// <summary>
    /// A file: safetensors, PyTorch zip (<c>torch.save</c>) or GGUF, told apart by their first bytes.
    /// A folder: <c>model.safetensors.index.json</c> (sharded), <c>model.safetensors</c>, <c>pytorch_model.bin</c>,
    /// or the folder's only <c>*.safetensors</c>/<c>*.bin</c>/<c>*.gguf</c> file.
    /// </summary>
    public static ICheckpoint Open(string path)
    {
        if (Directory.Exists(path)) return OpenFolder(path);
        if (!File.Exists(path)) throw new LoaderException(path, "no such file or folder");
        if (path.EndsWith(".index.json", StringComparison.OrdinalIgnoreCase)) return ShardedSafetensors.Open(path);

        Span<byte> head = stackalloc byte[9];
        int read;
        long length;
        using (var f = File.OpenRead(path))
        {
            length = f.Length;
            read = f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        if (read == 0) throw new LoaderException(path, "the file is empty");
        if (LooksLikeSafetensors(head[..read], length)) return SafetensorsCheckpoint.Open(path);
        if (read >= 4 && head[0] == 'G' && head[1] == 'G' && head[2] == 'U' && head[3] == 'F') return GgufCheckpoint.Open(path);
        if (read >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return PyTorchCheckpoint.Open(path);
        if (read >= 2 && head[0] == 0x80 && head[1] <= 5)
            throw new LoaderException(path,
                "legacy (pre-1.6, non-zip) PyTorch checkpoint; re-save it with torch >= 1.6: " +
                "torch.save(torch.load(path), path) (zip format is the default since 1.6)");
        if (path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
            throw new LoaderException(path, $"not a GGUF file: bad magic {Convert.ToHexString(head[..Math.Min(read, 4)])}, expected 47475546 ('GGUF')");
        if (path.EndsWith(".bin", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".pt", StringComparison.OrdinalIgnoreCase))
            throw new LoaderException(path, "not a PyTorch zip checkpoint (no zip signature at the start)");
        return SafetensorsCheckpoint.Open(path);
    }

    /// <summary>A u64 header length that fits the file, then '{': checked first because a header length such as
    /// 0x280 makes the file start 80 02, like a protocol-2 pickle.</summary>
    static bool LooksLikeSafetensors(ReadOnlySpan<byte> head, long fileLength) =>
        head.Length == 9 && head[8] == '{' && BinaryPrimitives.ReadUInt64LittleEndian(head) <= (ulong)(fileLength - 8);

    static ICheckpoint OpenFolder(string dir)
    {
        string index = System.IO.Path.Combine(dir, "model.safetensors.index.json");
        if (File.Exists(index)) return ShardedSafetensors.Open(index);
        foreach (string name in new[] { "model.safetensors", "pytorch_model.bin", "adapter_model.safetensors", "adapter_model.bin" })
        {
            string candidate = System.IO.Path.Combine(dir, name);
            if (File.Exists(candidate)) return Open(candidate);
        }
        var weightFiles = Directory.EnumerateFiles(dir)
            .Where(f => f.EndsWith(".safetensors") || f.EndsWith(".bin") || f.EndsWith(".gguf") || f.EndsWith(".index.json"))
            .Order(StringComparer.Ordinal)
            .ToList();
        return weightFiles.Count switch
        {
            1 => Open(weightFiles[0]),
            0 => throw new LoaderException(dir, "no weight file in this folder (looked for *.safetensors, *.bin, *.gguf)"),
            _ => throw new LoaderException(dir, $"several weight files, name one: {string.Join(", ", weightFiles.Select(System.IO.Path.GetFileName))}"),
        };
    }
}
