"""Speed measurements: the benchmark figures (`bench`), the mask-search
step profile (`step_profile`, `op_profile`), the demo's budget against the
full config (`demo_budget`) and the channel-pruned models' latency
(`structured_latency`, `structured_speed`). Their commands keep their names
(`python -m csam_tf.bench`, ...): see the modules beside `train.py`."""
