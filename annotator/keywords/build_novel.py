"""Generate ``novel_words.tsv``: donor words for keywords a caption vocabulary lacks.

Development time only; nothing at run time imports this module or needs WordNet::

    python -m annotator.keywords.build_novel \\
        --wordnet /usr/share/wordnet \\
        --classes ../shared/datasets/imagenet-samples/labels.json \\
        --captions ../shared/datasets/flickr8k/dataset_flickr8k.json

Novel-word transfer (Hendricks et al., CVPR 2016, "Deep Compositional Captioning",
direct transfer): a keyword the decoder never saw ("lion", "laptop", "space shuttle")
is added to the vocabulary at load time with a copy of the embedding and output
row of a semantically close word it knows (its *donor*). This script picks donors:

1. Each word of the caption vocabulary (the training captions' words seen at least
   ``MIN_COUNT`` times, so that their rows are well trained) is read as its most
   frequent WordNet noun sense.
2. For a novel keyword, its classes' hypernym paths are walked from the class up
   (lion: big cat, feline, carnivore, placental, mammal, ...). At the first
   ancestor under which some vocabulary word lies, the donors are those words, most
   frequent first (lion -> cat, dog; laptop -> computer). Ancestors in ``TOO_GENERAL``
   (entity, object, artifact, ...) end the walk: their "relatives" share no context.
3. ``DONORS`` overrides the pick where the walk finds nothing or a poor word (hand
   review of the generated table); its entries are marked ``reviewed``.

Each keyword gets a row for its singular and its plural, with donors in that number
(lion -> cat, dog; lions -> cats, dogs). A keyword of several words ("space
shuttle") is one novel token: one row, one constraint, one attention map per
concept; its text is the phrase. Keywords that already have a one-word form in the
vocabulary get no row. The run time (``annotator.model.novel``) uses the first donor
of each row that the loaded model knows; a row without one is skipped.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, deque
from pathlib import Path

from annotator.keywords.build_table import Synset, clean, plural, read_wordnet
from annotator.keywords.table import load_table

OUT_PATH = Path(__file__).with_name("novel_words.tsv")
HEADER = ("word", "keyword", "donors", "via")
MIN_COUNT = 15  # training-caption occurrences a donor needs
# A donor must be used as a noun: at least this share of its occurrences is followed by
# a function word, a verb in -ing or the end ("a dog is", "an orange shirt" is not).
MIN_HEAD_RATE = 0.5
# Nouns in WordNet, but used otherwise in the captions (cricket the sport, watch the verb).
NOT_DONORS = {"eats", "facing", "bars", "cricket", "watch", "young", "hind", "fall", "jumps"}
NOT_DONORS |= {"hay", "colors", "mound"}
FALLBACK = ("object", "toy")  # artifacts whose only relatives are "artifact", "device"
MAX_DONORS = 3
# Ancestors too general to give a donor (everything below them is "related").
TOO_GENERAL = {
    "entity",
    "physical_entity",
    "abstraction",
    "object",
    "whole",
    "artifact",
    "living_thing",
    "organism",
    "matter",
    "substance",
    "thing",
    "part",
    "instrumentality",
    "group",
    "measure",
    "attribute",
    "psychological_feature",
    "causal_agent",
    "location",
    "region",
    "unit",
    "relation",
    "communication",
    "act",
    "event",
    "state",
    "material",
    "solid",
    "commodity",
    "covering",
    "structure",
    "device",
    "container",
    "implement",
    "equipment",
    "vertebrate",
    "chordate",
    "invertebrate",
    "plant_part",
    "natural_object",
    "geological_formation",
    # reviewed: their nearest caption words read wrongly ("a man holding a shirt")
    "consumer_goods",
    "protective_covering",
    "instrument",
    "measuring_instrument",
    "optical_instrument",
    "mechanical_device",
    "mechanism",
    "restraint",
    "nutriment",
    "framework",
    "support",
    "supporting_structure",
    "system",
    "shelter",
    "conveyance",
    "cloth_covering",
    "game_equipment",
    "sports_equipment",
    "board",
    "ridge",
    "coral_reef",
    "weapon",
    "electronic_equipment",
}
# Hand-reviewed donors (singular; plurals follow): where the walk finds none, or one
# whose captions would read wrongly ("a man wearing a tram").
DONORS: dict[str, tuple[str, ...]] = {
    # animals: the decoder's animal contexts are dogs', horses' and birds'
    "lion": ("cat", "dog"),
    "cheetah": ("cat", "dog"),
    "leopard": ("cat", "dog"),
    "jaguar": ("cat", "dog"),
    "cougar": ("cat", "dog"),
    "lynx": ("cat", "dog"),
    "snow leopard": ("cat", "dog"),
    "zebra": ("horse", "animal"),
    "llama": ("sheep", "animal"),
    "bison": ("cow", "animal"),
    "buffalo": ("cow", "animal"),
    "antelope": ("deer", "animal"),
    "bighorn": ("sheep", "goat", "animal"),
    "hippopotamus": ("cow", "animal"),
    "pig": ("cow", "sheep", "animal"),
    "boar": ("cow", "animal"),
    "warthog": ("cow", "animal"),
    "wolf": ("dog",),
    "fox": ("dog",),
    "arctic fox": ("dog",),
    "wild dog": ("dog",),
    "hyena": ("dog",),
    "whale": ("dolphin", "fish"),
    "orca": ("dolphin", "fish"),
    "dugong": ("dolphin", "fish"),
    "sea lion": ("seal", "dog"),
    "shark": ("fish", "dolphin"),
    "ray": ("fish",),
    "turtle": ("frog", "animal"),
    "alligator": ("animal", "dog"),
    "dinosaur": ("animal", "dog"),
    "lizard": ("animal", "frog"),
    "gorilla": ("monkey", "animal"),
    "chimpanzee": ("monkey", "animal"),
    "orangutan": ("monkey", "animal"),
    "gibbon": ("monkey", "animal"),
    "lemur": ("monkey", "animal"),
    "panda": ("bear", "animal"),
    "red panda": ("cat", "animal"),
    "koala": ("bear", "animal"),
    "owl": ("bird",),
    "parrot": ("bird",),
    "eagle": ("bird",),
    "penguin": ("bird",),
    "heron": ("bird",),
    "stork": ("bird",),
    "egret": ("bird",),
    "grouse": ("bird",),
    "cockatoo": ("bird",),
    # food
    "pizza": ("food", "sandwich"),
    "burger": ("sandwich", "food"),
    "hot dog": ("sandwich", "food"),
    "ice cream": ("cake", "food"),
    "soup": ("food",),
    "stew": ("food",),
    # vehicles and machines
    "taxi": ("car",),
    "tram": ("train", "bus"),
    "moped": ("motorcycle", "bike"),
    "go-kart": ("car",),
    "golfcart": ("car",),
    "pickup truck": ("truck", "car"),
    "tow truck": ("truck", "car"),
    "garbage truck": ("truck", "car"),
    "forklift": ("truck", "car"),
    "airship": ("plane", "airplane"),
    "space shuttle": ("plane", "airplane", "rocket"),
    "rickshaw": ("cart", "car"),
    "keyboard": ("computer",),
    "printer": ("computer",),
    "modem": ("computer",),
    "remote control": ("phone", "camera"),
    "speaker": ("camera",),
    "radio": ("camera",),
    "clock": ("sign",),
    "lamp": ("light",),
    # places and buildings
    "castle": ("building",),
    "palace": ("building",),
    "mosque": ("building", "church"),
    "monastery": ("church", "building"),
    "library": ("building",),
    "bakery": ("store", "building"),
    "volcano": ("mountain",),
    "lighthouse": ("tower", "building"),
    # insects and small creatures: "cricket" is the sport in the captions
    "ant": ("insect", "bug", "bird"),
    "beetle": ("insect", "bug", "bird"),
    "cicada": ("insect", "bug", "bird"),
    "cockroach": ("insect", "bug", "bird"),
    "dragonfly": ("insect", "bug", "bird"),
    "grasshopper": ("insect", "bug", "bird"),
    "praying mantis": ("insect", "bug", "bird"),
    "stick insect": ("insect", "bug", "bird"),
    "fly": ("insect", "bug", "bird"),
    "centipede": ("insect", "bug", "dog"),
    "scorpion": ("insect", "bug", "dog"),
    "tick": ("insect", "bug", "dog"),
    "trilobite": ("insect", "bug", "fish"),
    "crab": ("crab", "fish", "dog"),
    "crayfish": ("crab", "fish", "dog"),
    "lobster": ("crab", "fish", "dog"),
    "isopod": ("insect", "bug", "fish"),
    "starfish": ("fish", "dog"),
    "sea urchin": ("fish", "dog"),
    "sea anemone": ("fish", "dog"),
    "sea cucumber": ("fish", "dog"),
    "sea slug": ("fish", "dog"),
    "jellyfish": ("fish", "dog"),
    "coral": ("rock", "fish"),
    "nautilus": ("fish", "dog"),
    "chiton": ("fish", "dog"),
    "seashell": ("rock", "stone"),
    "clownfish": ("fish",),
    "pufferfish": ("fish",),
    "salmon": ("fish",),
    "snail": ("frog", "dog"),
    "slug": ("frog", "dog"),
    "worm": ("frog", "dog"),
    "newt": ("frog", "dog"),
    "salamander": ("frog", "dog"),
    "axolotl": ("frog", "dog"),
    "gecko": ("frog", "dog"),
    "chameleon": ("frog", "dog"),
    # fruit and vegetables: "orange" is a colour in the captions
    "acorn": ("fruit", "food"),
    "artichoke": ("fruit", "food"),
    "banana": ("fruit", "food"),
    "bell pepper": ("fruit", "food"),
    "broccoli": ("food", "fruit"),
    "cabbage": ("food", "fruit"),
    "cardoon": ("food", "fruit"),
    "cauliflower": ("food", "fruit"),
    "chestnut": ("fruit", "food"),
    "cucumber": ("food", "fruit"),
    "custard apple": ("fruit", "food"),
    "fig": ("fruit", "food"),
    "lemon": ("fruit", "food"),
    "mushroom": ("food", "fruit"),
    "fungus": ("food", "plant"),
    "pineapple": ("fruit", "food"),
    "pomegranate": ("fruit", "food"),
    "strawberry": ("fruit", "food"),
    "squash": ("food", "fruit"),
    "rapeseed": ("field", "grass"),
    "bagel": ("food", "bread"),
    "pretzel": ("food", "bread"),
    # tools and small objects
    "hammer": ("stick", "object"),
    "hatchet": ("stick", "object"),
    "screwdriver": ("stick", "object"),
    "spatula": ("stick", "object"),
    "cleaver": ("stick", "object"),
    "corkscrew": ("object", "toy"),
    "plunger": ("stick", "object"),
    "paintbrush": ("stick", "object"),
    "quill pen": ("stick", "object"),
    "letter opener": ("stick", "object"),
    "power drill": ("camera", "object"),
    "torch": ("light", "stick"),
    "whistle": ("object", "toy"),
    "snorkel": ("goggles", "mask"),
    "swab": ("stick", "object"),
    "wallet": ("bag", "purse"),
    "piggy bank": ("toy", "object"),
    "mousetrap": ("box", "object"),
    "tool kit": ("box", "bag"),
    # containers and kitchen
    "beer glass": ("glass", "cup"),
    "goblet": ("glass", "cup"),
    "measuring cup": ("cup", "glass"),
    "salt shaker": ("bottle", "cup"),
    "cocktail shaker": ("bottle", "cup"),
    "soap dispenser": ("bottle", "cup"),
    "lotion": ("bottle",),
    "perfume": ("bottle",),
    "sunscreen": ("bottle",),
    "hair spray": ("bottle",),
    "lipstick": ("bottle", "object"),
    "frying pan": ("bowl", "plate"),
    "wok": ("bowl", "plate"),
    "tray": ("plate", "table"),
    "strainer": ("bowl", "bucket"),
    "hamper": ("basket", "bucket"),
    "shopping basket": ("basket", "bucket"),
    "trash can": ("bucket", "basket"),
    "can opener": ("object", "toy"),
    "bottle cap": ("object", "toy"),
    "slow cooker": ("bucket", "machine"),
    "oil filter": ("object", "machine"),
    # shoes and clothes
    "clog": ("shoe", "boot"),
    "loafer": ("shoe", "boot"),
    "cowboy boot": ("boot", "shoe"),
    "running shoe": ("shoe", "boot"),
    "cloak": ("jacket", "coat"),
    # machines and electronics
    "photocopier": ("machine", "computer"),
    "slot machine": ("machine",),
    "vending machine": ("machine",),
    "lawn mower": ("machine", "cart"),
    "harvester": ("tractor", "truck"),
    "thresher": ("tractor", "truck"),
    "plow": ("tractor", "truck"),
    "space heater": ("machine", "object"),
    "hard drive": ("computer", "machine"),
    "handheld computer": ("computer", "phone"),
    "space bar": ("computer",),
    "pencil sharpener": ("machine", "object"),
    "slide rule": ("stick", "object"),
    "car mirror": ("mirror", "window"),
    "cassette": ("object", "toy"),
    # structures and places
    "arch": ("building", "structure"),
    "altar": ("statue", "building"),
    "megalith": ("rock", "statue"),
    "obelisk": ("statue", "building"),
    "memorial plaque": ("sign", "statue"),
    "street sign": ("sign",),
    "traffic light": ("sign", "light"),
    "sawmill": ("building",),
    "drilling platform": ("building", "boat"),
    "solar dish": ("building", "structure"),
    "spider web": ("net", "fence"),
    "jack-o'-lantern": ("toy", "object"),
    "manhole cover": ("sign", "object"),
    "shoji": ("door", "window"),
    # household appliances
    "dishwasher": ("machine", "object"),
    "microwave": ("machine", "object"),
    "toaster": ("machine", "object"),
    "iron": ("machine", "object"),
    "hair dryer": ("machine", "object"),
    "espresso machine": ("machine", "object"),
    "washing machine": ("machine", "object"),
    "vacuum cleaner": ("machine", "object"),
    "waffle iron": ("machine", "object"),
    "rotisserie": ("machine", "object"),
    "dutch oven": ("bowl", "bucket"),
    "cassette player": ("phone", "camera"),
    "cd player": ("phone", "camera"),
    "tape player": ("phone", "camera"),
    "music player": ("phone", "camera"),
    "oscilloscope": ("computer", "machine"),
    "projector": ("camera", "machine"),
    "barbell": ("weights", "bar"),
    "dumbbell": ("weights", "bar"),
    "punching bag": ("bag",),
    "pool table": ("table",),
    "scoreboard": ("sign",),
    "reef": ("rock", "water"),
    "sandbar": ("beach", "sand"),
    "dome": ("building",),
    "thatched roof": ("roof", "building"),
    "vault": ("building",),
    "shield": ("sign", "object"),
    "lampshade": ("light", "object"),
    "window blind": ("window", "curtain"),
    "gas mask": ("mask", "helmet"),
    "knee pad": ("helmet", "pad"),
    "binder": ("book",),
    "menu": ("sign", "paper"),
    "crossword": ("paper", "newspaper"),
    "jigsaw puzzle": ("toy", "game"),
    "bell tower": ("tower", "building"),
    "birdhouse": ("house", "box"),
    "honeycomb": ("food", "object"),
    "maze": ("field", "grass"),
    "maypole": ("pole", "stick"),
    "pedestal": ("statue", "stand"),
    "totem pole": ("statue", "pole"),
    "water tower": ("tower", "building"),
    "seat belt": ("object", "toy"),
    "mittens": ("gloves", "hat"),
    "hoop skirt": ("dress", "skirt"),
}
REVIEWED = "reviewed"  # "via" of a hand-reviewed row


def vocabulary(captions_json: Path) -> tuple[Counter[str], Counter[str]]:
    """Return word counts of a Karpathy JSON's training captions, and of noun-like uses."""
    from annotator.model.beam import FUNCTION_WORDS

    data = json.loads(captions_json.read_text(encoding="utf-8"))
    counts: Counter[str] = Counter()
    heads: Counter[str] = Counter()
    for im in data["images"]:
        if im.get("split", "train") in ("train", "restval"):
            for s in im.get("sentences", []):
                toks = [str(t).lower() for t in s.get("tokens", [])]
                counts.update(toks)
                for w, nxt in zip(toks, [*toks[1:], ""], strict=True):
                    if not nxt or nxt in FUNCTION_WORDS or nxt.endswith("ing"):
                        heads[w] += 1
    return counts, heads


def _depths(synsets: dict[str, Synset], start: str) -> dict[str, int]:
    """Return every ancestor of ``start`` (itself included) with its distance."""
    depth = {start: 0}
    queue = deque([start])
    while queue:
        o = queue.popleft()
        for h in synsets[o].hypernyms:
            if h not in depth:
                depth[h] = depth[o] + 1
                queue.append(h)
    return depth


def donors_for(
    class_offsets: list[str],
    synsets: dict[str, Synset],
    words_below: dict[str, list[str]],
) -> tuple[list[str], str]:
    """Return donor words (most frequent first) and the ancestor they share with the class."""
    depth: dict[str, int] = {}
    for off in class_offsets:
        for o, d in _depths(synsets, off).items():
            depth[o] = min(d, depth.get(o, d))
    for o in sorted(depth, key=lambda x: (depth[x], x)):
        name = synsets[o].lemmas[0].lower()
        if name in TOO_GENERAL:
            continue
        if words_below.get(o):
            return words_below[o][:MAX_DONORS], clean(synsets[o].lemmas[0])
    return [], ""


def build_rows(
    wordnet: Path,
    classes: list[dict[str, str]],
    usage: tuple[Counter[str], Counter[str]],
    known: set[str],
) -> list[list[str]]:
    """Return the TSV rows: one per novel word form (singular and plural).

    ``usage`` are training-caption word counts and noun-like uses (``vocabulary``),
    ``known`` the decoder's vocabulary.
    """
    synsets, index = read_wordnet(wordnet)
    counts, heads = usage
    donor_ok = [
        w
        for w, n in counts.most_common()
        if n >= MIN_COUNT
        and w.isalpha()
        and w in known
        and w not in NOT_DONORS
        and heads[w] >= MIN_HEAD_RATE * n
    ]
    # Each well-trained word, read as its most frequent noun sense, lies below its ancestors.
    words_below: dict[str, list[str]] = {}
    for w in donor_ok:
        senses = index.get(w)
        if not senses:
            continue
        for anc in _depths(synsets, senses[0]):
            words_below.setdefault(anc, []).append(w)
    table = load_table()
    if [e.wnid for e in table] != [c["wnid"] for c in classes]:
        raise SystemExit("--classes does not match the keyword table's class order")
    by_keyword: dict[str, list[str]] = {}
    for e in table:
        if e.suppressed or any(" " not in f and f in known for f in e.synonyms):
            continue
        by_keyword.setdefault(e.keyword, []).append(e.wnid[1:])
    rows: list[list[str]] = []
    for keyword, offsets in sorted(by_keyword.items()):
        if keyword in DONORS:
            donors, via = [d for d in DONORS[keyword] if d in known], REVIEWED
        else:
            donors, via = donors_for(offsets, synsets, words_below)
        if not donors:
            donors, via = [d for d in FALLBACK if d in known], "fallback"
        if not donors:
            print(f"no donor for {keyword!r}: add one to DONORS")
            continue
        rows.append([keyword, keyword, ",".join(donors), via])
        # a donor without its own plural ("fish") would give both forms one row: skip
        plurals = [plural(d) for d in donors if plural(d) in known and plural(d) != d]
        if plural(keyword) != keyword and plurals:
            rows.append([plural(keyword), keyword, ",".join(plurals), via])
    return rows


def main(argv: list[str] | None = None) -> int:
    """Write the donor table from WordNet, the ImageNet classes and training captions."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    ap.add_argument("--classes", type=Path, required=True, help="JSON list of {wnid, label}")
    ap.add_argument("--captions", type=Path, required=True, help="Karpathy JSON of training")
    ap.add_argument("--model", type=Path, default=None, help="checkpoint (default: shipped)")
    ap.add_argument("--out", type=Path, default=OUT_PATH)
    args = ap.parse_args(argv)
    from annotator.core.settings import default_model_path
    from annotator.model.checkpoint import load_checkpoint

    known = set(load_checkpoint(args.model or default_model_path()).vocab.itos)
    classes = json.loads(args.classes.read_text(encoding="utf-8"))
    rows = build_rows(args.wordnet, classes, vocabulary(args.captions), known)
    lines = ["\t".join(HEADER), *("\t".join(r) for r in rows)]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
