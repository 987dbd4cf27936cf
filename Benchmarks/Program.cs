using BenchmarkDotNet.Running;

// dotnet run -c Release --project Benchmarks -- --filter '*MatVec*'
// Kernel families: MatVec, Gemm, Attention, Mert, Projector, NormRope; each over the devices this machine has.
// Int8MatVec: the cpu backend's --int8-activations GEMV (cpu only).
BenchmarkSwitcher.FromAssembly(typeof(SonicVerse.Benchmarks.DeviceBenchmark).Assembly).Run(args);
