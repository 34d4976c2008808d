"""Certification: CC-Cert bounds (`bounds`), the transformation sampler
that writes one row per image (`sampler`, `rows`), what a run shows
(`report`), resuming (`resume`), its settings (`config`, `flags`), and the
`python -m csam_tf.certify` command (`__main__`)."""
