"""``genprior zoo list | add | remove``: the pretrained models shipped with genprior and the user's own."""

from __future__ import annotations


def cmd_zoo_list(args) -> int:
    from genprior import zoo
    from genprior.reports import markdown_table

    rows = []
    user = set(zoo.user_names())
    for name in zoo.names(include_user=True):
        cfg = zoo.config(name)
        arch = cfg.get("architecture") or {}
        quality = ", ".join(f"{k} {cfg[k]:.4g}" for k in ("test_elbo", "test_accuracy", "sample_confidence") if isinstance(cfg.get(k), (int, float)))
        family = arch.get("family", "") + (f" ({arch['likelihood']} decoder)" if "likelihood" in arch else "")
        if not arch and "members" in cfg:
            family = "ensemble"
        rows.append({"name": name, "family": family, "latent_dim": arch.get("latent_dim", ""),
                     "data": (cfg.get("data") or {}).get("dataset", ""), "quality": quality,
                     "where": "user" if name in user else "shipped"})
    print(markdown_table(rows, ["name", "family", "latent_dim", "data", "quality", "where"]), end="")
    count = f"{len(user)} {'entry' if len(user) == 1 else 'entries'}"
    print(f"user zoo: {zoo.user_root()} ({count}; add one with genprior zoo add NAME PATH)")
    return 0


def cmd_zoo_add(args) -> int:
    from genprior import zoo
    from genprior.progress import say

    target = zoo.add(args.name, args.path, force=args.force)
    say(f"added {args.name} to the user zoo: {target}.safetensors and .json; use it with --model {args.name}")
    return 0


def cmd_zoo_remove(args) -> int:
    from genprior import zoo
    from genprior.progress import say

    zoo.remove(args.name)
    say(f"removed {args.name} from the user zoo ({zoo.user_root()})")
    return 0


def add_parsers(sub) -> None:
    """Add ``zoo`` and its subcommands ``list``, ``add`` and ``remove`` to ``sub``."""
    p_zoo = sub.add_parser("zoo", help="the pretrained models shipped with genprior, and your own")
    zoo_sub = p_zoo.add_subparsers(dest="zoo_command", required=True)
    zoo_sub.add_parser("list", help="list the shipped and the user entries").set_defaults(func=cmd_zoo_list)
    p = zoo_sub.add_parser("add", help="copy a trained model into the user zoo ($GENPRIOR_HOME/zoo, else "
                                       "$XDG_DATA_HOME/genprior/zoo, else ~/.local/share/genprior/zoo)")
    p.add_argument("name", help="the entry's name (letters, digits, - and _), then usable as --model NAME")
    p.add_argument("path", help="a NAME.safetensors/NAME.json pair, or a genprior train --out folder")
    p.add_argument("--force", action="store_true", help="replace a user entry of that name")
    p.set_defaults(func=cmd_zoo_add)
    p = zoo_sub.add_parser("remove", help="remove an entry of the user zoo")
    p.add_argument("name", help="the user entry to remove (shipped entries stay)")
    p.set_defaults(func=cmd_zoo_remove)
