"""Generate ``imagenet_keywords.tsv`` from WordNet 3.0 (development time only).

Run once when the rules below change, then commit the TSV::

    python -m annotator.keywords.build_table \\
        --wordnet /usr/share/wordnet \\
        --classes ../shared/datasets/imagenet-samples/labels.json

``--classes`` is any JSON list of ``{"wnid", "label"}`` in ImageNet-1k class-index
order (sorted wnids). WordNet comes from Debian's ``wordnet-base``. Nothing at run
time imports this module or needs WordNet: annotator reads only the TSV.

How a class gets its everyday keyword and hierarchy:

1. ``RULES`` are checked in order against the class and all its WordNet hypernyms;
   the first rule whose synset is among them gives the hierarchy prefix and either a
   fixed keyword (every dog breed -> "dog") or ``None`` (keep the class's own name).
2. ``NAMES`` overrides the own name where WordNet's first lemma is not what people
   say ("espresso" -> "coffee", "ice bear" -> "polar bear").
3. ``SUPPRESS`` marks classes never asserted as keywords, with the reason.
4. Synonyms: the keyword and its plural, ``EXTRA_FORMS`` of the keyword, the class's
   own WordNet lemmas (not Latin binomials) and their plurals.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from annotator.keywords.table import HEADER, TABLE_PATH

# (lemma, sense number, hierarchy prefix, keyword or None = the class's own name).
# Checked in order: specific rules first. Hierarchies read root -> leaf, each level
# an everyday word; the keyword itself is appended as the leaf unless it already is.
RULES: list[tuple[str, int, tuple[str, ...], str | None]] = [
    # Animals: mammals
    ("domestic_cat", 1, ("Animals", "Mammal"), "cat"),
    ("wildcat", 3, ("Animals", "Mammal", "Wild cat"), None),
    ("big_cat", 1, ("Animals", "Mammal", "Big cat"), None),
    ("dog", 1, ("Animals", "Mammal"), "dog"),
    ("wolf", 1, ("Animals", "Mammal"), "wolf"),
    ("wild_dog", 1, ("Animals", "Mammal"), "wild dog"),
    ("fox", 1, ("Animals", "Mammal"), "fox"),
    ("bear", 1, ("Animals", "Mammal"), "bear"),
    ("monkey", 1, ("Animals", "Mammal"), "monkey"),
    ("great_ape", 1, ("Animals", "Mammal", "Ape"), None),
    ("lesser_ape", 1, ("Animals", "Mammal", "Ape"), "gibbon"),
    ("lemur", 1, ("Animals", "Mammal"), "lemur"),
    ("elephant", 1, ("Animals", "Mammal"), "elephant"),
    ("rabbit", 1, ("Animals", "Mammal"), "rabbit"),
    ("squirrel", 1, ("Animals", "Mammal"), "squirrel"),
    ("horse", 1, ("Animals", "Mammal"), "horse"),
    ("cattle", 1, ("Animals", "Mammal"), "cow"),
    ("sheep", 1, ("Animals", "Mammal"), "sheep"),
    ("goat", 1, ("Animals", "Mammal"), "goat"),
    ("antelope", 1, ("Animals", "Mammal"), "antelope"),
    ("whale", 2, ("Animals", "Mammal"), "whale"),
    ("mammal", 1, ("Animals", "Mammal"), None),
    # Animals: birds
    ("owl", 1, ("Animals", "Bird"), "owl"),
    ("parrot", 1, ("Animals", "Bird"), "parrot"),
    ("eagle", 1, ("Animals", "Bird"), "eagle"),
    ("duck", 1, ("Animals", "Bird"), "duck"),
    ("penguin", 1, ("Animals", "Bird"), "penguin"),
    ("heron", 2, ("Animals", "Bird"), "heron"),
    ("stork", 1, ("Animals", "Bird"), "stork"),
    ("grouse", 2, ("Animals", "Bird"), "grouse"),
    ("bird", 1, ("Animals",), "bird"),
    # Animals: fish, reptiles, amphibians
    ("shark", 1, ("Animals", "Fish"), "shark"),
    ("ray", 7, ("Animals", "Fish"), "ray"),
    ("fish", 1, ("Animals",), "fish"),
    ("snake", 1, ("Animals", "Reptile"), "snake"),
    ("lizard", 1, ("Animals", "Reptile"), "lizard"),
    ("turtle", 2, ("Animals", "Reptile"), "turtle"),
    ("crocodilian_reptile", 1, ("Animals", "Reptile"), None),
    ("dinosaur", 1, ("Animals", "Reptile"), "dinosaur"),
    ("frog", 1, ("Animals", "Amphibian"), "frog"),
    ("salamander", 1, ("Animals", "Amphibian"), None),
    # Animals: invertebrates
    ("spider", 1, ("Animals",), "spider"),
    ("butterfly", 1, ("Animals", "Insect"), "butterfly"),
    ("beetle", 1, ("Animals", "Insect"), "beetle"),
    ("insect", 1, ("Animals", "Insect"), None),
    ("arachnid", 1, ("Animals",), None),
    ("crab", 1, ("Animals", "Sea creature"), "crab"),
    ("lobster", 2, ("Animals", "Sea creature"), "lobster"),
    ("crustacean", 1, ("Animals", "Sea creature"), None),
    ("worm", 1, ("Animals",), "worm"),
    ("gastropod", 1, ("Animals",), None),
    ("invertebrate", 1, ("Animals", "Sea creature"), None),
    ("animal", 1, ("Animals",), None),
    # Food and drink
    ("edible_fruit", 1, ("Food", "Fruit"), None),
    ("squash", 2, ("Food", "Vegetable"), "squash"),
    ("vegetable", 1, ("Food", "Vegetable"), None),
    ("bread", 1, ("Food", "Bread"), None),
    ("sandwich", 1, ("Food",), None),
    ("dessert", 1, ("Food", "Dessert"), None),
    ("beverage", 1, ("Food", "Drink"), None),
    ("food", 1, ("Food",), None),
    ("food", 2, ("Food",), None),
    # Plants and nature
    ("fungus", 1, ("Plants",), "mushroom"),
    ("flower", 1, ("Plants", "Flower"), None),
    ("reproductive_structure", 1, ("Plants",), None),
    ("geological_formation", 1, ("Nature",), None),
    # People
    ("person", 1, ("People",), None),
    # Vehicles
    ("car", 1, ("Vehicles", "Car"), None),
    ("truck", 1, ("Vehicles", "Truck"), None),
    ("bus", 1, ("Vehicles",), "bus"),
    ("train", 1, ("Vehicles",), "train"),
    ("locomotive", 1, ("Vehicles",), "train"),
    ("car", 2, ("Vehicles",), "train"),  # a railway car
    ("bicycle", 1, ("Vehicles",), "bicycle"),
    ("motorcycle", 1, ("Vehicles",), None),
    ("aircraft", 1, ("Vehicles", "Aircraft"), None),
    ("spacecraft", 1, ("Vehicles",), None),
    ("ship", 1, ("Vehicles", "Boat"), "ship"),
    ("sailing_vessel", 1, ("Vehicles", "Boat"), "sailboat"),
    ("vessel", 2, ("Vehicles",), "boat"),
    ("sled", 1, ("Vehicles",), None),
    ("wheeled_vehicle", 1, ("Vehicles",), None),
    ("vehicle", 1, ("Vehicles",), None),
    # Things people own and use
    ("musical_instrument", 1, ("Music", "Instrument"), None),
    ("computer", 1, ("Electronics", "Computer"), None),
    ("telephone", 1, ("Electronics",), "phone"),
    ("camera", 1, ("Electronics",), "camera"),
    ("electronic_equipment", 1, ("Electronics",), None),
    ("electronic_device", 1, ("Electronics",), None),
    ("footwear", 2, ("Clothing", "Footwear"), None),
    ("headdress", 1, ("Clothing", "Hat"), None),
    ("clothing", 1, ("Clothing",), None),
    ("jewelry", 1, ("Clothing",), None),
    ("ball", 1, ("Sports", "Ball"), None),
    ("sports_equipment", 1, ("Sports",), None),
    ("sports_implement", 1, ("Sports",), None),
    ("weapon", 1, ("Objects", "Weapon"), None),
    ("armor", 1, ("Objects",), None),
    ("furniture", 1, ("Home", "Furniture"), None),
    ("kitchen_utensil", 1, ("Home", "Kitchen"), None),
    ("tableware", 1, ("Home", "Kitchen"), None),
    ("home_appliance", 1, ("Home", "Appliance"), None),
    ("toiletry", 1, ("Home", "Toiletry"), None),
    ("tool", 1, ("Objects", "Tool"), None),
    ("telecommunication_system", 1, ("Electronics",), None),
    ("timepiece", 1, ("Objects",), None),
    ("bridge", 1, ("Places",), "bridge"),
    ("fence", 1, ("Places",), "fence"),
    ("shop", 1, ("Places", "Shop"), None),
    ("place_of_worship", 1, ("Places",), None),
    ("building", 1, ("Places", "Building"), None),
    ("structure", 1, ("Places",), None),
    ("mercantile_establishment", 1, ("Places",), None),
    ("geographic_point", 1, ("Places",), None),
    ("institution", 1, ("Places",), None),
    ("housing", 1, ("Places",), None),
]

# The own name of a class where WordNet's first lemma is not what people say, keyed
# by ImageNet label (by wnid for the two labels used twice: crane, maillot).
NAMES: dict[str, str] = {
    # mammals
    "Arctic fox": "arctic fox",
    "ice bear": "polar bear",
    "lesser panda": "red panda",
    "giant panda": "panda",
    "Indian elephant": "elephant",
    "African elephant": "elephant",
    "tusker": "elephant",
    "wild boar": "boar",
    "hog": "pig",
    "water buffalo": "buffalo",
    "Arabian camel": "camel",
    "wood rabbit": "rabbit",
    "Angora": "rabbit",
    "black-footed ferret": "ferret",
    "three-toed sloth": "sloth",
    "grey whale": "whale",
    "killer whale": "orca",
    "sorrel": "horse",
    "Madagascar cat": "lemur",
    "siamang": "gibbon",
    "dhole": "wild dog",
    "African hunting dog": "wild dog",
    # birds
    "cock": "chicken",
    "hen": "chicken",
    "kite": "hawk",
    "black swan": "swan",
    "king penguin": "penguin",
    "drake": "duck",
    "red-breasted merganser": "duck",
    "American egret": "egret",
    "little blue heron": "heron",
    "bittern": "heron",
    "n02012849": "crane",
    "black grouse": "grouse",
    "ruffed grouse": "grouse",
    "prairie chicken": "grouse",
    "ptarmigan": "grouse",
    "African grey": "parrot",
    "sulphur-crested cockatoo": "cockatoo",
    "bald eagle": "eagle",
    "great grey owl": "owl",
    # fish, reptiles, amphibians
    "great white shark": "shark",
    "tiger shark": "shark",
    "hammerhead": "shark",
    "electric ray": "ray",
    "coho": "salmon",
    "barracouta": "fish",
    "rock beauty": "fish",
    "anemone fish": "clownfish",
    "puffer": "pufferfish",
    "loggerhead": "turtle",
    "leatherback turtle": "turtle",
    "mud turtle": "turtle",
    "terrapin": "turtle",
    "box turtle": "turtle",
    "banded gecko": "gecko",
    "common iguana": "iguana",
    "American chameleon": "lizard",
    "African chameleon": "chameleon",
    "Komodo dragon": "komodo dragon",
    "African crocodile": "crocodile",
    "American alligator": "alligator",
    "European fire salamander": "salamander",
    "spotted salamander": "salamander",
    "common newt": "newt",
    "eft": "newt",
    "triceratops": "dinosaur",
    # invertebrates
    "harvestman": "spider",
    "walking stick": "stick insect",
    "mantis": "praying mantis",
    "leafhopper": "insect",
    "lacewing": "insect",
    "damselfly": "dragonfly",
    "brain coral": "coral",
    "conch": "seashell",
    "chambered nautilus": "nautilus",
    "hermit crab": "crab",
    "American lobster": "lobster",
    "spiny lobster": "lobster",
    # food and drink
    "Granny Smith": "apple",
    "head cabbage": "cabbage",
    "mashed potato": "mashed potatoes",
    "French loaf": "bread",
    "cheeseburger": "burger",
    "hotdog": "hot dog",
    "plate": "meal",
    "consomme": "soup",
    "hot pot": "stew",
    "ice lolly": "ice pop",
    "carbonara": "pasta",
    "meat loaf": "meatloaf",
    "potpie": "pie",
    "red wine": "wine",
    "espresso": "coffee",
    # plants and nature
    "yellow lady's slipper": "orchid",
    "ear": "corn",
    "hip": "rose hip",
    "buckeye": "chestnut",
    "coral fungus": "fungus",
    "agaric": "mushroom",
    "alp": "mountain",
    "coral reef": "reef",
    "lakeside": "lake",
    "promontory": "coast",
    "seashore": "beach",
    # people
    "ballplayer": "baseball player",
    # vehicles
    "beach wagon": "car",
    "cab": "taxi",
    "convertible": "car",
    "Model T": "car",
    "racer": "race car",
    "sports car": "car",
    "fire engine": "fire truck",
    "pickup": "pickup truck",
    "trailer truck": "truck",
    "moving van": "truck",
    "police van": "van",
    "minivan": "van",
    "streetcar": "tram",
    "bicycle-built-for-two": "bicycle",
    "mountain bike": "bicycle",
    "motor scooter": "scooter",
    "half track": "military vehicle",
    "amphibian": "amphibious vehicle",
    "recreational vehicle": "camper",
    "horse cart": "horse cart",
    "jinrikisha": "rickshaw",
    "barrow": "wheelbarrow",
    "dogsled": "sled",
    "airliner": "airplane",
    "warplane": "airplane",
    "wing": "airplane",
    "missile": "rocket",
    "wreck": "shipwreck",
    "aircraft carrier": "ship",
    "container ship": "ship",
    "liner": "ship",
    "pirate": "pirate ship",
    "catamaran": "sailboat",
    "trimaran": "sailboat",
    "schooner": "sailboat",
    "yawl": "sailboat",
    "passenger car": "train",
    "freight car": "train",
    "electric locomotive": "train",
    "steam locomotive": "train",
    "bullet train": "train",
    "school bus": "bus",
    "minibus": "bus",
    "trolleybus": "bus",
    # music
    "acoustic guitar": "guitar",
    "electric guitar": "guitar",
    "grand piano": "piano",
    "upright": "piano",
    "chime": "bell",
    "cornet": "trumpet",
    "maraca": "maracas",
    "marimba": "xylophone",
    "panpipe": "pan flute",
    "sax": "saxophone",
    # electronics
    "desktop computer": "computer",
    "notebook": "laptop",
    "hand-held computer": "handheld computer",
    "computer keyboard": "keyboard",
    "typewriter keyboard": "keyboard",
    "mouse": "computer mouse",
    "cellular telephone": "phone",
    "dial telephone": "phone",
    "pay-phone": "payphone",
    "iPod": "music player",
    "loudspeaker": "speaker",
    "Polaroid camera": "camera",
    "reflex camera": "camera",
    "hard disc": "hard drive",
    "CD player": "cd player",
    "web site": "website",
    # clothing
    "academic gown": "graduation gown",
    "bearskin": "bearskin hat",
    "crash helmet": "helmet",
    "bathing cap": "swimming cap",
    "Loafer": "loafer",
    "Christmas stocking": "christmas stocking",
    "jersey": "t-shirt",
    "jean": "jeans",
    "pajama": "pajamas",
    "mitten": "mittens",
    "Windsor tie": "tie",
    "sunglass": "sunglasses",
    "cuirass": "armor",
    "breastplate": "armor",
    "overskirt": "skirt",
    "hoopskirt": "hoop skirt",
    "brassiere": "bra",
    "n03710637": "tights",
    "n03710721": "swimsuit",
    "swimming trunks": "swim trunks",
    "fur coat": "fur coat",
    "feather boa": "feather boa",
    # sports
    "horizontal bar": "gymnastics",
    "parallel bars": "gymnastics",
    "balance beam": "gymnastics",
    "racket": "tennis racket",
    "puck": "hockey puck",
    # home and kitchen
    "toilet seat": "toilet",
    "washbasin": "sink",
    "china cabinet": "cabinet",
    "file": "file cabinet",
    "medicine chest": "medicine cabinet",
    "chiffonier": "dresser",
    "four-poster": "bed",
    "studio couch": "sofa",
    "park bench": "bench",
    "table lamp": "lamp",
    "washer": "washing machine",
    "microwave": "microwave",
    "vacuum": "vacuum cleaner",
    "espresso maker": "espresso machine",
    "Crock Pot": "slow cooker",
    "caldron": "cauldron",
    "whiskey jug": "jug",
    "pop bottle": "bottle",
    "pot": "flower pot",
    "tub": "tub",
    "window shade": "window blind",
    "theater curtain": "curtain",
    "bath towel": "towel",
    "toilet tissue": "toilet paper",
    "electric fan": "fan",
    "hand blower": "hair dryer",
    "matchstick": "matches",
    "pencil box": "pencil case",
    "rubber eraser": "eraser",
    "rule": "ruler",
    "saltshaker": "salt shaker",
    "n03126707": "crane",
    "pick": "guitar pick",
    "carpenter's kit": "tool kit",
    "magnetic compass": "compass",
    "slot": "slot machine",
    "teddy": "teddy bear",
    "plane": "hand plane",
    "bottlecap": "bottle cap",
    "Band Aid": "band-aid",
    "Petri dish": "petri dish",
    "dishrag": "dishcloth",
    "quill": "quill pen",
    "ballpoint": "pen",
    "fountain pen": "pen",
    "ashcan": "trash can",
    "book jacket": "book",
    "crossword puzzle": "crossword",
    "spider web": "spider web",
    # places
    "apiary": "beehive",
    "bookshop": "bookstore",
    "confectionery": "candy store",
    "shoe shop": "shoe store",
    "toyshop": "toy store",
    "cinema": "movie theater",
    "home theater": "home theater",
    "beacon": "lighthouse",
    "triumphal arch": "arch",
    "chainlink fence": "fence",
    "picket fence": "fence",
    "worm fence": "fence",
    "steel arch bridge": "bridge",
    "suspension bridge": "bridge",
    "viaduct": "bridge",
    "tile roof": "roof",
    "thatch": "thatched roof",
    "lumbermill": "sawmill",
    "mountain tent": "tent",
    "bell cote": "bell tower",
    "brass": "memorial plaque",
    "cliff dwelling": "cliff dwelling",
    "analog clock": "clock",
    "wall clock": "clock",
    "digital clock": "clock",
    "digital watch": "watch",
    "gasmask": "gas mask",
    "coffeepot": "coffee pot",
}

# Classes whose keyword is never asserted, with the reason (shown in the TSV).
SUPPRESS: dict[str, str] = {
    "ballplayer": "person: asserts a role about a person",
    "groom": "person: asserts a marital role about a person",
    "brassiere": "underwear: not asserted about people's photos",
    "n03710637": "underwear (tights): not asserted about people's photos",
    "bikini": "revealing clothing: not asserted about people's photos",
    "n03710721": "revealing clothing: not asserted about people's photos",
    "miniskirt": "revealing clothing: not asserted about people's photos",
    "swimming trunks": "revealing clothing: not asserted about people's photos",
    "diaper": "intimate: not asserted about people's photos (babies)",
    "neck brace": "medical: asserts a condition about a person",
    "crutch": "medical: asserts a condition about a person",
    "oxygen mask": "medical: asserts a condition about a person",
    "syringe": "medical: could imply drug use about a person",
    "wig": "appearance: asserts that a person wears a wig",
    "abaya": "religious dress: asserts a belief about a person",
    "vestment": "religious dress: asserts a role about a person",
    "military uniform": "uniform: asserts an affiliation about a person",
    "ski mask": "associated with crime when asserted about people's photos",
    "prison": "harmful when wrong about people's photos",
    "guillotine": "execution device: harmful when wrong",
    "assault rifle": "firearm: harmful when wrong about people's photos",
    "revolver": "firearm: harmful when wrong about people's photos",
    "rifle": "firearm: harmful when wrong about people's photos",
    "holster": "firearm holster: harmful when wrong about people's photos",
    "nipple": "ambiguous word (a baby bottle's teat): not asserted",
    "window screen": "uninteresting: a mesh texture that fires on many photos",
    "velvet": "uninteresting: a fabric texture",
    "wool": "uninteresting: a fabric texture",
    "chain": "uninteresting: a small part, rarely the subject",
    "knot": "uninteresting: a small part, rarely the subject",
    "nail": "uninteresting: a small part, rarely the subject",
    "screw": "uninteresting: a small part, rarely the subject",
    "buckle": "uninteresting: a small part, rarely the subject",
    "hook": "uninteresting: a small part, rarely the subject",
    "coil": "uninteresting: a pattern that fires on many photos",
    "packet": "uninteresting: packaging",
    "carton": "uninteresting: packaging",
    "plastic bag": "uninteresting: packaging",
    "envelope": "uninteresting: packaging",
}

# Word forms and everyday alternatives of a keyword (beyond its plural).
EXTRA_FORMS: dict[str, tuple[str, ...]] = {
    "cat": ("kitten", "kittens", "kitty"),
    "dog": ("puppy", "puppies", "pup"),
    "chicken": ("hen", "hens", "rooster", "roosters"),
    "cow": ("cattle", "ox", "oxen", "bull", "bulls"),
    "sheep": ("ram", "rams", "lamb", "lambs"),
    "pig": ("pigs", "hog", "hogs"),
    "horse": ("pony", "ponies"),
    "rabbit": ("bunny", "bunnies"),
    "bicycle": ("bike", "bikes", "cycle"),
    "motorcycle": ("motorbike",),
    "airplane": ("plane", "planes", "jet", "jets", "aircraft", "airliner", "aeroplane"),
    "ship": ("boat", "boats", "vessel"),
    "sailboat": ("boat", "boats", "sailing boat", "yacht"),
    "boat": ("ship", "ships"),
    "canoe": ("boat", "kayak"),
    "speedboat": ("boat", "motorboat"),
    "lifeboat": ("boat",),
    "fireboat": ("boat",),
    "gondola": ("boat",),
    "car": ("cars", "automobile", "auto"),
    "race car": ("racecar", "race cars", "racing car"),
    "taxi": ("cab", "taxicab"),
    "truck": ("lorry",),
    "fire truck": ("fire engine", "firetruck"),
    "phone": ("telephone", "cellphone", "cell phone", "mobile phone", "smartphone"),
    "television": ("tv", "television set"),
    "laptop": ("computer", "notebook"),
    "computer": ("pc",),
    "monitor": ("screen", "computer screen"),
    "space shuttle": ("shuttle", "rocket"),
    "rocket": ("missile",),
    "coffee": ("espresso", "cappuccino"),
    "burger": ("hamburger", "cheeseburger"),
    "hot dog": ("hotdog", "hot dogs"),
    "pasta": ("spaghetti",),
    "soup": ("broth",),
    "ice pop": ("popsicle", "ice lolly"),
    "meal": ("plate", "food", "dish"),
    "beach": ("shore", "seashore", "coast"),
    "coast": ("shore", "headland"),
    "lake": ("lakeside", "lakeshore", "pond"),
    "mountain": ("mountains", "alps", "peak"),
    "reef": ("coral reef", "coral"),
    "polar bear": ("bear", "ice bear"),
    "panda": ("giant panda", "panda bear"),
    "red panda": ("lesser panda",),
    "elephant": ("tusker",),
    "orangutan": ("ape",),
    "gorilla": ("ape",),
    "chimpanzee": ("chimp", "ape"),
    "gibbon": ("ape",),
    "crocodile": ("croc",),
    "alligator": ("gator",),
    "wild dog": ("hunting dog",),
    "jeans": ("jean", "denim", "blue jeans"),
    "t-shirt": ("tshirt", "jersey", "shirt", "tee"),
    "sweatshirt": ("hoodie", "sweater"),
    "sunglasses": ("shades", "glasses"),
    "guitar": ("electric guitar", "acoustic guitar"),
    "piano": ("grand piano", "keyboard"),
    "saxophone": ("sax",),
    "bell": ("chime", "wind chime"),
    "microphone": ("mic", "mike"),
    "remote control": ("remote",),
    "speaker": ("loudspeaker",),
    "scuba diver": ("diver", "divers", "scuba", "snorkeler"),
    "mushroom": ("fungus", "toadstool"),
    "corn": ("maize", "cob"),
    "bread": ("baguette", "loaf"),
    "cup": ("mug", "teacup"),
    "coffee mug": ("mug", "cup"),
    "wine": ("glass of wine",),
    "sink": ("washbasin", "basin"),
    "toilet": ("toilet seat",),
    "sofa": ("couch",),
    "bed": ("four-poster",),
    "tram": ("streetcar", "trolley"),
    "train": ("locomotive", "railway"),
    "bus": ("coach",),
    "trolleybus": ("bus",),
    "camper": ("rv", "motorhome", "camper van"),
    "cart": ("carriage", "wagon"),
    "tank": ("army tank",),
    "sled": ("sleigh", "dogsled"),
    "soccer ball": ("football", "ball"),
    "basketball": ("ball",),
    "volleyball": ("ball",),
    "tennis ball": ("ball",),
    "golf ball": ("ball",),
    "rugby ball": ("ball", "football"),
    "baseball": ("ball",),
    "ping-pong ball": ("ball", "table tennis ball"),
    "croquet ball": ("ball",),
    "graduation gown": ("gown", "academic gown"),
    "lighthouse": ("beacon",),
    "fountain": ("water fountain",),
    "stone wall": ("wall",),
    "movie theater": ("cinema", "theater"),
    "beehive": ("apiary", "hive", "beehives"),
    "arctic fox": ("fox",),
    "goldfish": ("fish",),
    "stingray": ("ray",),
    "seashell": ("shell", "conch"),
    "praying mantis": ("mantis",),
    "ladybug": ("ladybird",),
    "shipwreck": ("wreck",),
    "orchid": ("flower",),
    "daisy": ("flower", "flowers"),
    "rapeseed": ("canola",),
}

# Plurals that the simple rules get wrong.
IRREGULAR = {
    "mouse": "mice",
    "goose": "geese",
    "sheep": "sheep",
    "fish": "fish",
    "deer": "deer",
    "moose": "moose",
    "bison": "bison",
    "buffalo": "buffalo",
    "jeans": "jeans",
    "pajamas": "pajamas",
    "mittens": "mittens",
    "sunglasses": "sunglasses",
    "maracas": "maracas",
    "gymnastics": "gymnastics",
    "matches": "matches",
    "mashed potatoes": "mashed potatoes",
    "hay": "hay",
    "wine": "wines",
    "coffee": "coffees",
    "armor": "armor",
    "chain mail": "chain mail",
    "corn": "corn",
    "dough": "dough",
    "guacamole": "guacamole",
    "toilet paper": "toilet paper",
    "hair spray": "hair spray",
    "face powder": "face powder",
    "sunscreen": "sunscreen",
    "lotion": "lotions",
    "meatloaf": "meatloaves",
    "knife": "knives",
    "swim trunks": "swim trunks",
    "pasta": "pasta",
    "chocolate sauce": "chocolate sauce",
    "cliff dwelling": "cliff dwellings",
}


@dataclass(frozen=True)
class Synset:
    """One WordNet noun synset: its lemmas and hypernym offsets."""

    lemmas: tuple[str, ...]
    hypernyms: tuple[str, ...]


def read_wordnet(root: Path) -> tuple[dict[str, Synset], dict[str, list[str]]]:
    """Read ``data.noun`` (offset -> synset) and ``index.noun`` (lemma -> offsets by sense)."""
    synsets: dict[str, Synset] = {}
    with (root / "data.noun").open(encoding="latin-1") as f:
        for line in f:
            if line.startswith("  "):
                continue
            parts = line.split(" | ", 1)[0].split()
            n = int(parts[3], 16)
            lemmas = tuple(parts[4 + 2 * i] for i in range(n))
            i = 4 + 2 * n
            hyper = []
            for _ in range(int(parts[i])):
                sym, off, pos = parts[i + 1 : i + 4]
                if sym in ("@", "@i") and pos == "n":
                    hyper.append(off)
                i += 4
            synsets[parts[0]] = Synset(lemmas, tuple(hyper))
    index: dict[str, list[str]] = {}
    with (root / "index.noun").open(encoding="latin-1") as f:
        for line in f:
            if line.startswith("  "):
                continue
            parts = line.split()
            n_ptr = int(parts[3])
            index[parts[0]] = parts[6 + n_ptr :]
    return synsets, index


def ancestors(synsets: dict[str, Synset], offset: str) -> set[str]:
    """Return ``offset`` and all its hypernyms (every path to the root)."""
    seen: set[str] = set()
    stack = [offset]
    while stack:
        o = stack.pop()
        if o not in seen:
            seen.add(o)
            stack.extend(synsets[o].hypernyms)
    return seen


def plural(word: str) -> str:
    """Return the plural of an English noun phrase (its last word)."""
    if word in IRREGULAR:
        return IRREGULAR[word]
    head, _, last = word.rpartition(" ")
    if last in IRREGULAR:
        p = IRREGULAR[last]
    elif last.endswith(("s", "x", "z", "ch", "sh")):
        p = last + "es"
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        p = last[:-1] + "ies"
    elif last.endswith("f") and not last.endswith("ff"):
        p = last[:-1] + "ves"
    else:
        p = last + "s"
    return f"{head} {p}" if head else p


def clean(lemma: str) -> str:
    """Return a WordNet lemma as an everyday lowercase phrase."""
    return lemma.replace("_", " ").lower()


def is_binomial(lemma: str) -> bool:
    """Return True for Latin species names such as ``Tinca_tinca``."""
    parts = lemma.split("_")
    return len(parts) == 2 and parts[0][:1].isupper() and parts[1].islower()


def build_rows(wordnet: Path, classes: list[dict[str, str]]) -> list[list[str]]:
    """Return one TSV row per ImageNet class, in class-index order."""
    synsets, index = read_wordnet(wordnet)
    rules = []
    for lemma, sense, prefix, keyword in RULES:
        offsets = index.get(lemma.lower())
        if not offsets or len(offsets) < sense:
            raise ValueError(f"WordNet has no noun {lemma}#{sense}")
        rules.append((offsets[sense - 1], prefix, keyword))
    rows = []
    for i, c in enumerate(classes):
        wnid = c["wnid"]
        syn = synsets[wnid[1:]]
        seen = ancestors(synsets, wnid[1:])
        prefix, group = ("Objects",), None
        for offset, pre, kw in rules:
            if offset in seen:
                prefix, group = pre, kw
                break
        label = c["label"]
        keyword = NAMES.get(wnid) or NAMES.get(label) or group or clean(syn.lemmas[0])
        levels = [*prefix]
        for word in (group, keyword):
            if word and word != levels[-1].lower():
                levels.append(word[:1].upper() + word[1:])
        hierarchy = tuple(levels)
        forms = [keyword, plural(keyword), *EXTRA_FORMS.get(keyword, ())]
        for lemma in syn.lemmas:
            if lemma == syn.lemmas[0] or not is_binomial(lemma):
                w = clean(lemma)
                forms += [w, plural(w)]
        synonyms = list(dict.fromkeys(f for f in forms if f))
        rows.append(
            [
                str(i),
                wnid,
                c["label"],
                keyword,
                "|".join(hierarchy),
                ",".join(synonyms),
                SUPPRESS.get(wnid) or SUPPRESS.get(label, ""),
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Write the keyword table from WordNet and an ImageNet class list."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    ap.add_argument("--classes", type=Path, required=True, help="JSON list of {wnid, label}")
    ap.add_argument("--out", type=Path, default=TABLE_PATH)
    args = ap.parse_args(argv)
    classes = json.loads(args.classes.read_text(encoding="utf-8"))
    if len(classes) != 1000 or [c["wnid"] for c in classes] != sorted(c["wnid"] for c in classes):
        raise SystemExit(f"{args.classes}: expected 1000 classes sorted by wnid")
    rows = build_rows(args.wordnet, classes)
    lines = ["\t".join(HEADER), *("\t".join(r) for r in rows)]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
