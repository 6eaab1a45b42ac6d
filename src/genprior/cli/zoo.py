"""``genprior zoo list``: the pretrained models shipped with genprior."""

from __future__ import annotations


def cmd_zoo_list(args) -> int:
    from genprior import zoo
    from genprior.reports import markdown_table

    rows = []
    for name in zoo.names():
        cfg = zoo.config(name)
        arch = cfg["architecture"]
        quality = ", ".join(f"{k} {cfg[k]:.4g}" for k in ("test_elbo", "test_accuracy", "sample_confidence") if isinstance(cfg.get(k), (int, float)))
        family = arch.get("family", "") + (f" ({arch['likelihood']} decoder)" if "likelihood" in arch else "")
        rows.append({"name": name, "family": family, "latent_dim": arch.get("latent_dim", ""),
                     "data": (cfg.get("data") or {}).get("dataset", ""), "quality": quality})
    print(markdown_table(rows, ["name", "family", "latent_dim", "data", "quality"]), end="")
    return 0


def add_parsers(sub) -> None:
    """Add ``zoo`` and its subcommand ``list`` to ``sub``."""
    p_zoo = sub.add_parser("zoo", help="the pretrained models shipped with genprior")
    zoo_sub = p_zoo.add_subparsers(dest="zoo_command", required=True)
    zoo_sub.add_parser("list", help="list the entries").set_defaults(func=cmd_zoo_list)
