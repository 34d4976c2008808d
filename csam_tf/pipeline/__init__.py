"""The pipeline layer: `csam_tf.train` composes the library and the
trainers into stages (pre-train, mask, fine-tune, export, certify): which
stages run and what they cost (`plan`), running them (`stages`),
tf.distribute (`distribute`), the train command itself (`train`) and the
one-screen summary of a run (`run_summary`). The workdir's layout is
csam_tf.core.workdir's, which every layer reads."""
