"""Architecture names, importable without TensorFlow (for flag parsing)."""

ARCHITECTURES = ("resnet18", "resnet10", "googlenet", "mobilenet_v2", "vit")
