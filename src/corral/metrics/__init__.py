"""Metrics: per-workspace resource usage, sampled on a thread, kept as bounded time series.

- `cgroup`, `netdev`, `disk`: read one workspace's counters straight from kernel files
  (pure parsers + thin readers, a few tens of microseconds each);
- `series`: the bounded in-memory history (1 h at the sampling interval, 24 h at 1 min);
- `anomaly`: CPU far above a workspace's own trailing baseline, memory near its limit;
- `sampler`: the loop that ties them together and answers queries;
- `prometheus`: the text exposition format.
"""
