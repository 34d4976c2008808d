"""The semantic transformations: their ranges per family and level
(`ranges`) and the TF ops that sample and apply them (`semantic`)."""
