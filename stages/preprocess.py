"""Stage preprocess: validate the IDX files, then shuffle, split and normalise into data/processed/."""
from stages import run


def main() -> None:
    from mnistflow import paths
    from mnistflow.config import load_params
    from mnistflow.data.idx import read_pair
    from mnistflow.data.prepare import prepare, save_splits

    cfg = load_params(paths.PARAMS).prepare
    train = read_pair(paths.RAW_DIR / "train-images-idx3-ubyte.gz", paths.RAW_DIR / "train-labels-idx1-ubyte.gz")
    test = read_pair(paths.RAW_DIR / "t10k-images-idx3-ubyte.gz", paths.RAW_DIR / "t10k-labels-idx1-ubyte.gz")
    splits = prepare(*train, *test, cfg)
    save_splits(splits)
    print(f"preprocess: {splits.info['sizes']} (standardize={cfg.standardize}, seed={cfg.seed})")


if __name__ == "__main__":
    run(main)
