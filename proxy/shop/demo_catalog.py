"""The vocabulary of the demo shop: categories of items (base price in EUR, description), brand
lines, variants, complementary items (what sells together) and names for customers."""

from __future__ import annotations

CATEGORIES: dict[str, list[tuple[str, int, str]]] = {
    "Coffee & Tea": [
        ("Espresso Machine", 420, "15-bar pump espresso machine with a steam wand for lattes and cappuccinos"),
        ("Burr Coffee Grinder", 140, "conical burr grinder with 40 settings, from fine espresso to coarse French press"),
        ("Gooseneck Pour-Over Kettle", 55, "electric gooseneck kettle with temperature control for pour-over coffee"),
        ("French Press", 35, "borosilicate glass French press with a stainless steel filter, one litre"),
        ("Milk Frother", 45, "handheld milk frother that foams hot or cold milk in seconds"),
        ("Coffee Beans", 16, "single-origin whole coffee beans, medium roast, 500 g bag"),
        ("Ceramic Mug", 14, "stoneware coffee mug, glazed by hand, dishwasher safe"),
        ("Green Tea Sampler", 22, "six loose-leaf green teas from Japan and China in tins"),
        ("Cold Brew Maker", 38, "cold brew coffee maker with a fine mesh filter, fits in the fridge door"),
        ("Insulated Travel Tumbler", 25, "double-wall vacuum insulated tumbler keeps coffee hot for six hours"),
    ],
    "Kitchen": [
        ("Chef's Knife", 89, "20 cm forged steel chef's knife with a full tang and a balanced handle"),
        ("Cast Iron Skillet", 59, "pre-seasoned cast iron frying pan, 26 cm, for stove, oven and campfire"),
        ("Bamboo Cutting Board", 29, "thick bamboo chopping board with a juice groove"),
        ("Knife Sharpening Stone", 34, "1000/6000 grit whetstone for sharpening kitchen knives"),
        ("Dutch Oven", 119, "enamelled cast iron casserole pot for stews, bread and braising"),
        ("Digital Kitchen Scale", 24, "precise kitchen scale weighing up to 5 kg in 1 g steps"),
        ("Linen Apron", 32, "washed linen apron with two pockets and adjustable straps"),
        ("Silicone Spatula Set", 18, "three heat-resistant silicone spatulas for baking and cooking"),
        ("Stainless Steel Mixing Bowls", 42, "set of four nesting mixing bowls with lids"),
        ("Spice Grinder", 27, "manual ceramic spice and pepper grinder"),
    ],
    "Audio": [
        ("Wireless Noise-Cancelling Headphones", 249, "over-ear bluetooth headphones with active noise cancelling and 30 hour battery"),
        ("True Wireless Earbuds", 129, "in-ear wireless earbuds with charging case, sweat resistant for running"),
        ("Portable Bluetooth Speaker", 89, "waterproof portable speaker with deep bass and 12 hour playtime"),
        ("Record Player", 299, "belt-drive turntable with built-in preamp for vinyl records"),
        ("Headphone Stand", 29, "walnut wood headphone stand for your desk"),
        ("Studio Monitor Speakers", 349, "pair of powered bookshelf speakers for music production"),
        ("USB Microphone", 119, "cardioid USB condenser microphone for podcasts and streaming"),
        ("Headphone Carrying Case", 24, "hard shell travel case for over-ear headphones"),
        ("Smart Speaker", 99, "voice-controlled wifi speaker for music, radio and podcasts"),
        ("Audio Cable Set", 19, "braided 3.5 mm aux and RCA audio cables"),
    ],
    "Outdoor": [
        ("Waterproof Hiking Jacket", 189, "breathable three-layer rain jacket with taped seams and a hood"),
        ("Trail Running Shoes", 139, "lightweight trail runners with grippy lugs for muddy paths"),
        ("Hiking Backpack", 129, "35 litre daypack with a rain cover and hip belt"),
        ("Two-Person Tent", 279, "freestanding backpacking tent for two, 2.1 kg"),
        ("Down Sleeping Bag", 229, "goose down sleeping bag comfortable to minus five degrees"),
        ("Rechargeable Headlamp", 45, "USB rechargeable head torch with 400 lumen and red light"),
        ("Trekking Poles", 79, "pair of carbon trekking poles with cork grips"),
        ("Insulated Water Bottle", 32, "stainless steel vacuum bottle keeps water cold for 24 hours"),
        ("Camping Stove", 69, "compact gas camping stove that boils a litre in four minutes"),
        ("Merino Wool Socks", 22, "cushioned merino hiking socks, two pairs"),
    ],
    "Fitness": [
        ("Yoga Mat", 59, "non-slip natural rubber yoga mat, 5 mm thick, with carrying strap"),
        ("Adjustable Dumbbells", 299, "pair of adjustable dumbbells from 2 to 24 kg"),
        ("Resistance Bands Set", 29, "five latex resistance bands with handles and door anchor"),
        ("Foam Roller", 35, "high-density foam roller for muscle recovery and massage"),
        ("Kettlebell", 49, "cast iron kettlebell with a wide handle, 12 kg"),
        ("Speed Jump Rope", 19, "adjustable steel cable skipping rope with ball bearings"),
        ("Yoga Block Pair", 24, "two cork yoga blocks for support and balance"),
        ("Fitness Tracker Watch", 149, "heart rate and sleep tracking smartwatch with GPS"),
        ("Gym Duffel Bag", 55, "water-resistant sports bag with a shoe compartment"),
        ("Protein Shaker Bottle", 12, "leak-proof shaker bottle with a mixing ball"),
    ],
    "Home": [
        ("Linen Bedding Set", 169, "stonewashed linen duvet cover and two pillowcases"),
        ("Wool Throw Blanket", 89, "soft lambswool throw blanket for the sofa"),
        ("Scented Soy Candle", 24, "hand-poured soy wax candle with cedar and vanilla scent"),
        ("Ceramic Table Lamp", 119, "glazed ceramic table lamp with a linen shade"),
        ("Indoor Plant Pot", 29, "terracotta plant pot with a drainage saucer"),
        ("Down Pillow", 69, "medium firm down pillow with a cotton cover"),
        ("Bath Towel Set", 59, "organic cotton bath towels, set of four"),
        ("Aroma Diffuser", 45, "ultrasonic essential oil diffuser with night light"),
        ("Woven Storage Basket", 35, "seagrass storage basket with handles"),
        ("Wall Clock", 49, "silent oak wall clock with a minimalist face"),
    ],
    "Office": [
        ("Standing Desk", 549, "electric height-adjustable standing desk with memory presets"),
        ("Ergonomic Office Chair", 389, "mesh office chair with lumbar support and adjustable armrests"),
        ("Dotted Notebook", 18, "A5 hardcover dotted notebook with 200 pages"),
        ("Fountain Pen", 65, "steel nib fountain pen with a converter and ink cartridges"),
        ("Monitor Stand", 59, "wooden monitor riser with a drawer"),
        ("Desk Organizer", 34, "felt and wood desk tidy for pens and cables"),
        ("Wireless Keyboard", 99, "low-profile bluetooth keyboard for three devices"),
        ("Wireless Mouse", 49, "ergonomic rechargeable wireless mouse"),
        ("LED Desk Lamp", 79, "dimmable LED desk lamp with USB charging port"),
        ("Bottled Fountain Pen Ink", 14, "50 ml bottle of blue-black fountain pen ink"),
    ],
    "Bags": [
        ("Leather Wallet", 69, "slim full-grain leather bifold wallet with RFID blocking"),
        ("Laptop Sleeve", 45, "padded wool felt sleeve for 14 inch laptops"),
        ("Canvas Tote Bag", 35, "heavy waxed canvas tote bag with an inner pocket"),
        ("Weekender Duffel", 159, "leather-trimmed canvas duffel bag for weekend trips"),
        ("Commuter Backpack", 119, "water-resistant rolltop backpack with a laptop compartment"),
        ("Leather Card Holder", 39, "minimalist leather card holder for six cards"),
        ("Packing Cubes", 32, "set of four compression packing cubes for travel"),
        ("Crossbody Sling Bag", 59, "compact sling bag for phone, keys and wallet"),
        ("Toiletry Bag", 35, "hanging toiletry bag with water-resistant lining"),
        ("Leather Key Ring", 19, "hand-stitched leather key ring"),
    ],
    "Electronics": [
        ("USB-C Fast Charger", 39, "65 W gallium nitride USB-C wall charger with two ports"),
        ("Power Bank", 49, "20000 mAh portable power bank with USB-C power delivery"),
        ("Braided USB-C Cable", 15, "two metre braided USB-C to USB-C charging cable"),
        ("Phone Case", 29, "shock-absorbing phone case with a raised camera lip"),
        ("Wireless Charging Pad", 35, "qi wireless charging pad for phones and earbuds"),
        ("Smart Plug", 19, "wifi smart plug with energy monitoring"),
        ("E-Reader", 139, "glare-free e-ink reader with warm front light"),
        ("E-Reader Cover", 25, "folio cover with auto sleep for e-readers"),
        ("Webcam", 89, "1080p webcam with stereo microphones and privacy shutter"),
        ("Screen Cleaning Kit", 12, "spray and microfibre cloth for screens and lenses"),
    ],
    "Garden": [
        ("Pruning Shears", 35, "bypass secateurs with hardened steel blades"),
        ("Watering Can", 29, "galvanised steel watering can, 5 litres"),
        ("Gardening Gloves", 19, "breathable gardening gloves with nitrile palms"),
        ("Raised Garden Bed", 149, "cedar wood raised bed for vegetables and herbs"),
        ("Herb Seed Kit", 22, "basil, parsley, chives and coriander seeds with pots"),
        ("Garden Kneeler", 39, "foldable kneeler and seat with tool pouches"),
        ("Compost Bin", 79, "rotating compost tumbler, 160 litres"),
        ("Bird Feeder", 34, "hanging metal bird feeder for seeds"),
        ("Garden Hose Reel", 69, "wall-mounted hose reel with 20 m hose"),
        ("Solar Garden Lights", 45, "set of eight solar powered path lights"),
    ],
    "Personal Care": [
        ("Safety Razor", 45, "double-edge safety razor with ten blades"),
        ("Shaving Soap", 16, "sandalwood shaving soap in a tin"),
        ("Shaving Brush", 29, "synthetic bristle shaving brush with a wooden handle"),
        ("Bamboo Toothbrush Set", 12, "four biodegradable bamboo toothbrushes"),
        ("Natural Face Cream", 32, "unscented moisturiser for sensitive skin"),
        ("Beard Oil", 19, "argan and jojoba beard oil, 30 ml"),
        ("Electric Toothbrush", 89, "sonic electric toothbrush with travel case"),
        ("Hair Dryer", 79, "ionic hair dryer with a diffuser and concentrator"),
        ("Solid Shampoo Bar", 11, "plastic-free shampoo bar for normal hair"),
        ("Massage Oil", 21, "almond and lavender massage oil"),
    ],
    "Games & Toys": [
        ("Wooden Puzzle", 24, "1000 piece wooden jigsaw puzzle of a mountain lake"),
        ("Building Blocks Set", 49, "120 natural wooden building blocks in a crate"),
        ("Strategy Board Game", 45, "strategy board game for two to four players, ages ten and up"),
        ("Card Game", 15, "fast family card game for three to eight players"),
        ("Chess Set", 69, "walnut and maple chess set with a folding board"),
        ("Kite", 29, "delta kite for beginners with 50 m line"),
        ("Plush Bear", 22, "soft organic cotton teddy bear"),
        ("Marble Run", 59, "wooden marble run construction kit"),
        ("Dice Set", 12, "seven polyhedral dice with a pouch"),
        ("Puzzle Mat", 19, "roll-up felt mat to store unfinished puzzles"),
    ],
}

VARIANTS = [
    ("Classic", 1.0, "A dependable everyday choice."),
    ("Pro", 1.45, "Premium materials and a longer warranty."),
]

LINES = [
    "Aurora", "Nordic", "Summit", "Harbor", "Meadow", "Cedar", "Atlas", "Juniper", "Willow", "Fjord", "Ember",
    "Tidal", "Alder", "Basalt", "Cobalt", "Dune", "Granite", "Lumen", "Maple", "Orbit",
]

# item -> items often bought with it (directional, "people who bought X also bought")
COMPANIONS: dict[str, list[str]] = {
    "Espresso Machine": ["Burr Coffee Grinder", "Milk Frother", "Coffee Beans"],
    "Burr Coffee Grinder": ["Coffee Beans", "French Press"],
    "French Press": ["Coffee Beans", "Ceramic Mug"],
    "Gooseneck Pour-Over Kettle": ["Coffee Beans", "Burr Coffee Grinder"],
    "Cold Brew Maker": ["Coffee Beans", "Insulated Travel Tumbler"],
    "Chef's Knife": ["Knife Sharpening Stone", "Bamboo Cutting Board"],
    "Cast Iron Skillet": ["Linen Apron", "Silicone Spatula Set"],
    "Dutch Oven": ["Linen Apron", "Digital Kitchen Scale"],
    "Wireless Noise-Cancelling Headphones": ["Headphone Carrying Case", "Headphone Stand"],
    "Record Player": ["Studio Monitor Speakers", "Audio Cable Set"],
    "USB Microphone": ["Audio Cable Set", "Webcam"],
    "True Wireless Earbuds": ["Wireless Charging Pad", "Phone Case"],
    "Waterproof Hiking Jacket": ["Hiking Backpack", "Merino Wool Socks"],
    "Two-Person Tent": ["Down Sleeping Bag", "Rechargeable Headlamp", "Camping Stove"],
    "Trail Running Shoes": ["Merino Wool Socks", "Insulated Water Bottle"],
    "Hiking Backpack": ["Insulated Water Bottle", "Trekking Poles"],
    "Yoga Mat": ["Yoga Block Pair", "Foam Roller"],
    "Adjustable Dumbbells": ["Resistance Bands Set", "Gym Duffel Bag"],
    "Kettlebell": ["Speed Jump Rope", "Protein Shaker Bottle"],
    "Fitness Tracker Watch": ["Protein Shaker Bottle", "Wireless Charging Pad"],
    "Linen Bedding Set": ["Down Pillow", "Wool Throw Blanket"],
    "Scented Soy Candle": ["Aroma Diffuser", "Wool Throw Blanket"],
    "Standing Desk": ["Ergonomic Office Chair", "Monitor Stand", "LED Desk Lamp"],
    "Fountain Pen": ["Bottled Fountain Pen Ink", "Dotted Notebook"],
    "Wireless Keyboard": ["Wireless Mouse", "Desk Organizer"],
    "Leather Wallet": ["Leather Card Holder", "Leather Key Ring"],
    "Weekender Duffel": ["Packing Cubes", "Toiletry Bag"],
    "Commuter Backpack": ["Laptop Sleeve", "Power Bank"],
    "E-Reader": ["E-Reader Cover", "USB-C Fast Charger"],
    "Power Bank": ["Braided USB-C Cable", "USB-C Fast Charger"],
    "Raised Garden Bed": ["Herb Seed Kit", "Gardening Gloves"],
    "Pruning Shears": ["Gardening Gloves", "Garden Kneeler"],
    "Safety Razor": ["Shaving Soap", "Shaving Brush"],
    "Electric Toothbrush": ["Bamboo Toothbrush Set", "Natural Face Cream"],
    "Chess Set": ["Strategy Board Game", "Card Game"],
    "Wooden Puzzle": ["Puzzle Mat", "Card Game"],
    "Building Blocks Set": ["Marble Run", "Plush Bear"],
}

FIRST_NAMES = (
    "Anna Ben Clara David Emma Felix Greta Hugo Ida Jonas Klara Leon Mia Noah Olivia Paul Quinn Rosa Samuel Tara "
    "Ulrich Vera William Xenia Yusuf Zoe Amelie Bruno Chloe Daniel Elena Finn Hannah Isaac Julia Karl Lena Marco "
    "Nina Oscar Pia Rafael Sofia Theo Una Valentin Wanda Lars Ines Mateo"
).split()
LAST_NAMES = (
    "Schmidt Muller Dubois Rossi Jansen Novak Garcia Smith Johnson Weber Fischer Moreau Bianchi Visser Kowalski "
    "Lopez Brown Taylor Wagner Becker Laurent Romano Bakker Nowak Martin Wilson Hoffmann Schulz Girard Greco "
    "Dekker Wojcik Sanchez Clark Lewis Koch Richter Bernard Colombo Smit Lewandowski Perez Walker Hall Klein Wolf "
    "Roux Ricci Meijer Berg"
).split()
CITIES_EUR = ["Berlin", "Hamburg", "Munich", "Paris", "Lyon", "Amsterdam", "Utrecht", "Milan", "Rome", "Vienna", "Madrid", "Lisbon"]
CITIES_USD = ["New York", "Chicago", "Seattle", "Austin", "Boston", "Denver"]
EMAIL_DOMAINS = ["example.com", "example.org", "example.net"]
