"""A suite's section header says how its runs were made: the command,
the images certified (test, or validation for the suites that choose
settings), the certificate's settings, the fine-tuning budget and the rows
that set their own."""

from csam_tf.certify.config import CertifyConfig
from csam_tf.experiments import section


def _settings(suite):
  return section.SectionSettings(
      suite=suite, command="python -m csam_tf.experiments --suite=" + suite,
      dataset="fashion_mnist", arch="resnet18", width_multiplier=0.25,
      finetune_epochs=2, root="runs/x", figures_dir="runs/x/fig",
      certificate=CertifyConfig(num_images=200, nsamples=100, nbounds=10,
                                delta=0.9, eps=1e-3))


def test_v3_header_names_the_robust_rows_budget():
  text = section.suite_section([], 66, _settings("main"))
  assert text.startswith("## Suite `main` (fashion_mnist, resnet18 x0.25)")
  assert ("0 of 66 planned runs finished. Certification: CC-Cert, first 200 "
          "test images, nsamples 100 x nbounds 10, delta 0.9, eps 0.001."
          in text)
  assert ("gets 2 fine-tuning epochs (csam-shipped, magnitude-shipped, "
          "magnitude-global_robust, csam-global_robust, magnitude-full, "
          "csam-full: 4). Per-run "
          "numbers: `runs/x/results.csv`" in text)


def test_objective_suite_certifies_validation_images():
  text = section.suite_section([], 12, _settings("objective"))
  assert "first 200 validation images" in text
  assert ("gets 2 fine-tuning epochs (magnitude-robust_l10_ft4, "
          "magnitude-robust_l5_ft4, magnitude-full_l5_m1_ft4: 4)." in text)
  # one table per sparsity of the sweep, 90% first
  assert text.index("### Fine-tuning objective sweep, 90% global") < (
      text.index("### Fine-tuning objective sweep, 70% global"))
