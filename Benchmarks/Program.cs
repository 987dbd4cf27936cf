using BenchmarkDotNet.Running;

// dotnet run -c Release --project Benchmarks -- --filter '*MatVec*'
BenchmarkSwitcher.FromAssembly(typeof(SonicVerse.Benchmarks.MatVecBenchmarks).Assembly).Run(args);
