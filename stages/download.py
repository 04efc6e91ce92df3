"""Stage download: the four MNIST .gz files into data/raw/, verified by content SHA-256."""

from stages import run


def main() -> None:
    from mnistflow import paths
    from mnistflow.config import MNIST_FILES, load_params
    from mnistflow.data.mirror import download_mnist, mirror_list

    cfg = load_params(paths.PARAMS).download
    download_mnist(paths.RAW_DIR, MNIST_FILES, cfg.sha256, mirror_list(cfg.mirrors), cfg.timeout_s, cfg.deadline_s)


if __name__ == "__main__":
    run(main)
