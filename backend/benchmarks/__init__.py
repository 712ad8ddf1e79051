"""Speed benchmarks: each prints one JSON object with a same-process ratio and its goal."""
