"""The base layer: what every other folder may use and nothing here may
reach above. Errors and the one-line exit, the workdir's layout and
ownership, atomic files, the command-line wrapper, progress lines,
TensorFlow's native stderr, the machine a timing names, report.json, model
fingerprints, generated Markdown sections, child processes' CPU time, and
keras-cv's import order. Pure Python except where a module says
otherwise."""
