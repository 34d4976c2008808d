"""Architecture names, importable without TensorFlow (for flag parsing)."""

ARCHITECTURES = ("resnet18", "googlenet", "mobilenet_v2", "vit")
