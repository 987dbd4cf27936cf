using SonicVerse.Loader;

namespace SonicVerse.Runtime.Backends;

/// <summary>Scratch tensors of one computation, disposed together (so a failed forward pass never leaks device memory).</summary>
public sealed class TensorScope(IBackend backend) : IDisposable
{
    readonly List<DeviceTensor> _owned = new();

    public IBackend Backend => backend;

    public DeviceTensor F32(params int[] shape) => Own(backend.Allocate(DType.F32, shape));

    public DeviceTensor Upload(ReadOnlySpan<float> values, params int[] shape) => Own(backend.Upload(values, shape));

    public DeviceTensor Own(DeviceTensor tensor)
    {
        _owned.Add(tensor);
        return tensor;
    }

    public void Dispose()
    {
        foreach (var t in _owned) t.Dispose();
        _owned.Clear();
    }
}
