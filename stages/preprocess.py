"""Stage preprocess: validate the IDX files, then shuffle, split and normalise into data/processed/,
with a perturbed copy of the test split (test_perturbed.npz)."""

from stages import run


def main() -> None:
    from mnistflow import paths
    from mnistflow.config import load_params
    from mnistflow.data.idx import read_pair
    from mnistflow.data.perturb import perturbed_test
    from mnistflow.data.prepare import prepare, save_splits

    params = load_params(paths.PARAMS)
    cfg = params.prepare
    train = read_pair(paths.RAW_DIR / "train-images-idx3-ubyte.gz", paths.RAW_DIR / "train-labels-idx1-ubyte.gz")
    test = read_pair(paths.RAW_DIR / "t10k-images-idx3-ubyte.gz", paths.RAW_DIR / "t10k-labels-idx1-ubyte.gz")
    splits = prepare(*train, *test, cfg)
    save_splits(splits, perturbed_test(*test, splits.info, params.perturb))
    print(f"preprocess: {splits.info['sizes']} (standardize={cfg.standardize}, seed={cfg.seed})")


if __name__ == "__main__":
    run(main)
