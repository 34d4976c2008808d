"""Masks on weights: the soft-mask layers and model, the mask's
initialisation, binarisation by top-k, BatchNorm re-estimation under the
masks, the C-SAM loss terms (`losses`) and the hand-over of binary masks to
tfmot's pruning wrappers (`tfmot_bridge`)."""
