"""The training loops (pre-training, the C-SAM mask search, fine-tuning
under fixed masks, the robust objective), each with its config and its
flags. Top level by the design card, but one layer of csam_tf's map: above
csam_tf.masking (and everything below it), below csam_tf.certify and the
pipeline, which import trainers and are never imported by them."""
