namespace SonicVerse.Runtime.Backends;

/// <summary>Creates backends; resolves <c>--device auto</c>.</summary>
public static class Backend
{
    /// <summary>Creates the backend for <paramref name="kind"/> (null = auto: CUDA when a usable GPU is present, else cpu).
    /// The choice is reported once through <paramref name="log"/> (the CLI passes stderr).</summary>
    public static IBackend Create(DeviceKind? kind, Action<string>? log = null)
    {
        if (kind is null)
        {
            var cuda = IlgpuBackend.TryCreateCuda(out string why);
            if (cuda is not null)
            {
                log?.Invoke($"device: {cuda.Description} (auto)");
                return cuda;
            }
            var cpu = CpuBackend.Create();
            log?.Invoke($"device: {cpu.Description} (auto: no usable CUDA GPU: {why})");
            return cpu;
        }
        IBackend backend = kind switch
        {
            DeviceKind.Cpu => CpuBackend.Create(),
            DeviceKind.IlgpuCpu => IlgpuBackend.CreateCpuAccelerator(),
            _ => IlgpuBackend.TryCreateCuda(out string reason)
                 ?? throw new InvalidOperationException($"--device cuda: no usable CUDA GPU ({reason})"),
        };
        log?.Invoke($"device: {backend.Description}");
        return backend;
    }
}
