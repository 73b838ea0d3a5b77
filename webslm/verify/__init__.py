"""Check a built artifact numerically: our kernels on the CPU against PyTorch."""
