namespace SonicVerse.Runtime.Backends;

/// <summary>Creates backends; resolves <c>--device auto</c>.</summary>
public static class Backend
{
    /// <summary>Creates the backend for <paramref name="kind"/> (null = auto: CUDA when a usable GPU is present, else cpu).
    /// The choice is reported once through <paramref name="log"/> (the CLI passes stderr). <paramref name="int8Activations"/>
    /// (<c>--int8-activations</c>) is the cpu backend's llama.cpp arithmetic (<see cref="CpuBackend.Int8Activations"/>); the
    /// ILGPU kernels keep fp32 activations, so asking for it there is an error, not a silent no-op.</summary>
    public static IBackend Create(DeviceKind? kind, Action<string>? log = null, bool int8Activations = false)
    {
        if (int8Activations && kind is not null and not DeviceKind.Cpu)
            throw new InvalidOperationException($"--int8-activations: only --device cpu rounds activations to int8, not {kind.Value.CliName()}");
        if (int8Activations && kind is null)
        {
            var cpu = CpuBackend.Create(int8Activations: true);
            log?.Invoke($"device: {cpu.Description} (auto: --int8-activations runs on the cpu)");
            return cpu;
        }
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
            DeviceKind.Cpu => CpuBackend.Create(int8Activations),
            DeviceKind.IlgpuCpu => IlgpuBackend.CreateCpuAccelerator(),
            _ => IlgpuBackend.TryCreateCuda(out string reason)
                 ?? throw new InvalidOperationException($"--device cuda: no usable CUDA GPU ({reason})"),
        };
        log?.Invoke($"device: {backend.Description}");
        return backend;
    }
}
