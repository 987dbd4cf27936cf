namespace SonicVerse.Runtime.Backends;

/// <summary>Creates backends; resolves <c>--device auto</c>.</summary>
public static class Backend
{
    /// <summary>Creates the backend for <paramref name="kind"/> (null = auto: CUDA when a usable GPU is present, else cpu).
    /// The choice is reported once through <paramref name="log"/> (the CLI passes stderr). <paramref name="int8Activations"/>
    /// (<c>--int8-activations</c>): products with Q8_0/Q4_0 weights round x to int8 blocks, llama.cpp's arithmetic, on
    /// every backend (<see cref="CpuBackend.Int8Activations"/>, <see cref="IlgpuBackend.Int8Activations"/>).</summary>
    public static IBackend Create(DeviceKind? kind, Action<string>? log = null, bool int8Activations = false)
    {
        if (kind is null)
        {
            var cuda = IlgpuBackend.TryCreateCuda(out string why, int8Activations);
            if (cuda is not null)
            {
                log?.Invoke($"device: {cuda.Description} (auto)");
                return cuda;
            }
            var cpu = CpuBackend.Create(int8Activations);
            log?.Invoke($"device: {cpu.Description} (auto: no usable CUDA GPU: {why})");
            return cpu;
        }
        IBackend backend = kind switch
        {
            DeviceKind.Cpu => CpuBackend.Create(int8Activations),
            DeviceKind.IlgpuCpu => IlgpuBackend.CreateCpuAccelerator(int8Activations),
            _ => IlgpuBackend.TryCreateCuda(out string reason, int8Activations)
                 ?? throw new InvalidOperationException($"--device cuda: no usable CUDA GPU ({reason})"),
        };
        log?.Invoke($"device: {backend.Description}");
        return backend;
    }
}
