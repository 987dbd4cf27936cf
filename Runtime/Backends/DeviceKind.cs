namespace SonicVerse.Runtime.Backends;

/// <summary>Where computation runs. <see cref="Cpu"/> is the managed SIMD backend (the reference every kernel is tested
/// against); <see cref="Cuda"/> and <see cref="IlgpuCpu"/> run the very same hand-written ILGPU kernels.</summary>
public enum DeviceKind { Cpu, Cuda, IlgpuCpu }

public static class DeviceKinds
{
    /// <summary>Parses the <c>--device</c> value: auto | cuda | cpu | ilgpu-cpu (null = auto).</summary>
    public static DeviceKind? Parse(string? text) => text?.ToLowerInvariant() switch
    {
        null or "auto" => null,
        "cpu" => DeviceKind.Cpu,
        "cuda" => DeviceKind.Cuda,
        "ilgpu-cpu" => DeviceKind.IlgpuCpu,
        _ => throw new ArgumentException($"unknown device '{text}': use auto, cuda, cpu or ilgpu-cpu"),
    };

    public static string CliName(this DeviceKind kind) => kind switch
    {
        DeviceKind.Cpu => "cpu",
        DeviceKind.Cuda => "cuda",
        _ => "ilgpu-cpu",
    };
}
