"""Certifies every model x family x level into its CSV, then shows what
was certified (table, PCA-vs-eps plot, TensorBoard): the sampler makes the
rows, the report reads them."""

import os
from typing import Dict, Sequence

import numpy as np

from csam_tf.core import workdir as workdir_lib
from csam_tf.certify import resume as certify_resume
from csam_tf.certify import rows as csv_rows
from csam_tf.certify import sampler as certify_sampler
from csam_tf.certify import certificate as certify_certificate
from csam_tf.certify import predictors as certify_predictors
from csam_tf.certify import shards as certify_shards
from csam_tf.certify.config import CertifyConfig
from csam_tf.transforms import plugin


def certify_models(predictors: Dict[str, certify_sampler.Predict],
                   images: np.ndarray, labels: np.ndarray, cfg: CertifyConfig,
                   out_dir: str, shard=(0, 1)) -> Dict[str, Dict[str, float]]:
  """Every model x family x level; CSVs named <model>_<family>_<level>.

  Also writes the PCA-vs-eps plot and TensorBoard summary of what it
  certified, and prints the table. Sharded (worker k of n), it certifies
  worker k's images into shard CSVs and returns their partial summaries.
  """
  return certify_jobs(predictors, images, labels, [cfg], out_dir, shard)


def _certificates(predictors, jobs):
  """(model, its key, predictor, cfg, transformation, level) of every
  model x job x family x level, in that order."""
  for name, predict in predictors.items():
    for cfg, transforms in jobs:
      for transform in transforms:
        for level in cfg.levels:
          key = certify_resume.certificate_key(name, transform.name,
                                               level, cfg.bound)
          yield name, key, predict, cfg, transform, level


def certify_jobs(predictors: Dict[str, certify_sampler.Predict],
                 images: np.ndarray, labels: np.ndarray,
                 cfgs: Sequence[CertifyConfig], out_dir: str,
                 shard=(0, 1)) -> Dict[str, Dict[str, float]]:
  """certify_models for several settings (families, levels, bound, blocks)
  in one pass over the models: one plot, one table, one summary for all."""
  from csam_tf.certify import pca_report  # matplotlib, late
  # protocol families and plug-ins (family = transformation.name)
  jobs = [(cfg, [plugin.load(spec) for spec in cfg.families])
          for cfg in cfgs]
  if shard[1] > 1:
    return {key: certify_certificate.certify_model(
                predict, images, labels, transform, level, cfg,
                certify_shards.shard_csv(out_dir, key, shard), shard)
            for _, key, predict, cfg, transform, level
            in _certificates(predictors, jobs)}
  plain = {name: certify_predictors.plain_throughput(predict, images,
                                                  cfgs[0].batch_size)
           for name, predict in predictors.items()}
  results, curves = {}, {}
  for name, key, predict, cfg, transform, level in _certificates(
      predictors, jobs):
    csv_path = certify_resume.certificate_csv(out_dir, name, transform.name,
                                              level, cfg.bound)
    summary = certify_certificate.certify_model(predict, images, labels,
                                            transform, level, cfg, csv_path)
    summary["plain_inference_per_second"] = round(plain[name], 1)
    if summary["forward_passes_per_second"] > 0:
      summary["throughput_ratio"] = round(
          summary["forward_passes_per_second"] / plain[name], 3)
    results[key] = summary
    curves[key] = pca_report.pca_curve(
        csv_rows.read_rows(csv_path)[:cfg.num_images])
  # the plot shows every certificate in out_dir side by side: also the
  # ones earlier commands made (the run's dense and pruned models beside a
  # .tflite certified afterwards)
  for key, path in certify_resume.certificate_csvs(out_dir).items():
    if key not in curves:
      curves[key] = pca_report.pca_curve(csv_rows.read_rows(path))
  pca_report.plot_pca_vs_eps(curves, os.path.join(out_dir,
                                                      "pca_vs_eps.png"))
  pca_report.write_tensorboard(
      results, cfgs[0].eps, os.path.join(
          os.path.dirname(out_dir), workdir_lib.TENSORBOARD, "certify"))
  print(pca_report.table(results, cfgs[0].eps), flush=True)
  return results
