"""Benchmark suites: which runs a suite holds (`suites`), their results
table and Markdown sections (`results`), and the
`python -m csam_tf.experiments` command that runs them (`__main__`)."""
