"""Seeded generator of SYNTHETIC French product listings in the Rakuten France challenge's format.

Nothing here is a real listing: designations and descriptions are composed from small per-class
vocabularies and templates, so that the platform can run end to end (demo, CI, tests) without the
challenge's data. The output mimics the real files closely enough to exercise the same code paths:
the real class imbalance (`REAL_CLASS_COUNTS`), missing descriptions, HTML markup and entities,
duplicated listings, mojibake (UTF-8 read as cp1252) and descriptions that repeat the designation.
Related classes share vocabulary and a few rows borrow a neighbouring class's designation, so a
text classifier scores well on it but not perfectly. Scores measured on this data say nothing about
the real task.

Same `(n_rows, seed)`, same frames and same file bytes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from prodcat_core.datasets import PROVENANCE_FILE
from prodcat_core.labels import CATEGORY_NAMES, REAL_CLASS_COUNTS

logger = logging.getLogger(__name__)

X_FILENAME: Final = "X_train_update.csv"
Y_FILENAME: Final = "Y_train_CVw08PX.csv"
X_COLUMNS: Final = ("designation", "description", "productid", "imageid")
Y_COLUMN: Final = "prdtypecode"

MIN_ROWS_PER_CLASS: Final = 2
MIN_ROWS: Final = MIN_ROWS_PER_CLASS * len(REAL_CLASS_COUNTS)

# Rates of the realism defects. Each is applied to an exact, seeded number of rows.
MISSING_DESCRIPTION_RATE: Final = 0.35  # of all rows
HTML_RATE: Final = 0.30  # of rows that have a description
DESIGNATION_REPEAT_RATE: Final = 0.15  # of rows that have a description
MOJIBAKE_RATE: Final = 0.03  # of all rows (drawn among rows that have a non-ASCII character)
DUPLICATE_RATE: Final = 0.02  # of all rows: same text as another row of the same class
NEIGHBOUR_DESIGNATION_RATE: Final = 0.03  # of all rows: designation from a related class
# Of description sentences: class-neutral marketplace talk, and talk borrowed from a related class.
GENERIC_SENTENCE_RATE: Final = 0.25
NEIGHBOUR_SENTENCE_RATE: Final = 0.15

# Real ids are 9-10 digit integers; the ranges keep that and keep the two kinds apart.
_PRODUCTID_LOW: Final = 100_000_000
_PRODUCTID_SPAN: Final = 4_200_000_000
_IMAGEID_LOW: Final = 850_000_000
_IMAGEID_SPAN: Final = 480_000_000

# The real files end their lines with CRLF.
_LINE_TERMINATOR: Final = "\r\n"

# Random 16-bit draws per row; a power of two so that the per-row stream wraps with a mask.
_DRAWS_PER_ROW: Final = 64
_DRAW_MASK: Final = _DRAWS_PER_ROW - 1

# ---------------------------------------------------------------------------------------------
# Vocabulary. A template is text with {slots}: {name} draws an entry of pool `name` (the class's
# own pool first, then the shared one), {#lo-hi} draws an integer. Repeating an entry weights it.
# ---------------------------------------------------------------------------------------------

_LETTERS: Final = tuple("ABCDEFGHJKLMNPRSTVWXZ")

_SHARED_POOLS: Final[dict[str, tuple[str, ...]]] = {
    # How a designation is wrapped: mostly bare, sometimes with marketplace words.
    "root": ("{d}",) * 4
    + ("{d} {attr}", "{d} - {attr}", "{d} {attr}", "{d} {ref}", "{d} - {generic}", "{generic} {d}"),
    "root_seller": ("{d}",) * 3
    + ("{d} {attr}", "{d} - {attr}", "{d}{seller}", "{d}{seller}", "{d} {attr}{seller}",
       "{d} - {generic}", "{d} {ref}"),
    # What a seller appends to a designation to tell one offer from another.
    "attr": (
        "{colour}", "Réf. {ref}", "{ref}", "{#2-12} Pcs", "{colour} {size}", "Lot De {#2-6}",
        "{#10-200} Cm", "{colour} - {ref}", "Taille {size}", "{#2-12} Pièces {colour}",
    ),
    "generic": (
        "neuf", "livraison rapide", "qualité supérieure", "lot de 2", "lot de 3", "promo",
        "expédition 24h", "garantie 2 ans", "haute qualité", "nouveau", "original", "article neuf",
        "stock France", "envoi soigné", "cadeau idéal", "pas cher", "édition limitée",
        "très bon état", "best-seller", "satisfait ou remboursé", "nouveauté", "prix mini",
        "top vente", "livraison gratuite", "premium", "envoi suivi",
    ),
    "generic_s": (
        "Livraison rapide et soignée.", "Article neuf, jamais utilisé.",
        "Expédié sous 24h depuis la France.", "Produit de qualité, satisfait ou remboursé.",
        "N'hésitez pas à nous contacter pour toute question.", "Idéal pour offrir.",
        "Photo non contractuelle.", "Garantie {#1-3} ans.", "Paiement sécurisé.",
        "Emballage soigné et envoi suivi.", "Couleur : {colour}.",
        "Qualité supérieure au meilleur prix.", "Stock limité, commandez vite !",
        "Retour gratuit sous {#14-30} jours.", "Nous expédions du lundi au vendredi.",
        "Merci de vérifier les dimensions avant de commander.",
        "Le produit peut légèrement différer de la photo.", "Lot de {#2-5} disponible sur demande.",
        "Vendeur professionnel, facture fournie.", "Très bon rapport qualité-prix.",
        "Référence : {ref}.", "Article en très bon état.",
        "Livraison offerte dès {#2-3} articles achetés.", "Nouveau modèle {year_recent}.",
    ),
    "seller": (
        "-Générique", " @Cocoworld", "-Auucne", " @Doauhao{#100-999}", " Shen {#1-99}",
        " Magideal", "-Moakoada", "-Générique", " Yonis", " Wewoo", " Zolimx", "-Sencillo",
    ),
    "colour": (
        "noir", "blanc", "rouge", "bleu", "vert", "gris", "beige", "rose", "jaune", "marron",
        "bleu marine", "gris anthracite", "taupe", "violet", "orange", "argent", "doré",
        "multicolore", "naturel", "ivoire", "turquoise", "bordeaux", "kaki", "chocolat",
        "vert empire", "rose poudré", "blanc cassé", "noir mat", "bleu ciel", "corail",
    ),
    "size": ("XS", "S", "M", "L", "XL", "XXL", "Unique"),
    "material": (
        "bois", "métal", "plastique", "verre", "bambou", "rotin", "céramique", "inox", "tissu",
        "résine", "osier", "velours", "cuir", "coton", "acier", "silicone",
    ),
    "pattern": (
        "Rayé", "Fleuri", "Uni", "Géométrique", "À Pois", "Imprimé Fantaisie", "Tropical",
        "Ethnique", "Carreaux", "Brodé", "Cartoon", "Étoiles", "Cœurs", "Chevrons", "Animaux",
    ),
    "style": (
        "scandinave", "industriel", "vintage", "moderne", "baroque", "contemporain", "rétro",
        "chesterfield", "campagne", "bohème", "design", "classique", "art déco",
    ),
    "design_adj": ("mythique", "intemporel", "épuré", "moderne", "élégant", "chaleureux"),
    "ref": (
        "{L}{L}-{#1000-9999}-{L}{L}", "{#100000-999999}", "{L}{L}{#100-999}",
        "REF {#10000-99999}", "{L}{#1000-9999}",
    ),
    "L": _LETTERS,
    "dd": tuple(f"{d:02d}" for d in range(1, 29)),
    "mm": tuple(f"{m:02d}" for m in range(1, 13)),
    "year": ("{#1850-2019}",),
    "year_recent": ("{#2010-2020}",),
    "language": ("français", "anglais", "allemand", "italien", "espagnol", "japonais"),
    "place": (
        "Paris", "Venise", "Lyon", "Marseille", "Bordeaux", "Tanger", "Montréal", "Berlin",
        "Rome", "Saint-Malo", "Carcassonne", "Alger", "Nantes", "Brest", "Québec", "Lisbonne",
    ),
    "region": (
        "Bretagne", "Provence", "Alsace", "Corse", "Normandie", "Italie", "Espagne", "Maroc",
        "Grèce", "Portugal", "Auvergne", "Pays Basque",
    ),
    "animal": (
        "Lion", "Chat", "Chien", "Licorne", "Dinosaure", "Éléphant", "Cheval", "Lapin", "Panda",
        "Hibou", "Renard", "Dauphin", "Ours", "Girafe", "Tigre", "Pingouin", "Papillon", "Requin",
    ),
    # Books, used books, lots of books and magazines.
    "firstname": (
        "Jean", "Marie", "Pierre", "Sophie", "Luc", "Claire", "Jacques", "Anne", "François",
        "Isabelle", "Michel", "Camille", "Victor", "Émile", "Louise", "Antoine", "Hélène", "Paul",
        "Julien", "Nathalie", "Georges", "Alice", "Henri", "Céline", "Bernard", "Thomas", "Élise",
        "Marcel", "Simone", "Yves",
    ),
    "lastname": (
        "Dupont", "Martin", "Bernard", "Durand", "Lefèvre", "Moreau", "Laurent", "Girard", "Roux",
        "Fournier", "Morel", "Mercier", "Blanc", "Guérin", "Chevalier", "Perrin", "Barrère",
        "Lemaire", "Faure", "Vidal", "Gauthier", "Marchand", "Duval", "Leclerc", "Mallet",
        "Renaud", "Collin", "Besson", "Lacroix", "Fontaine",
    ),
    "author": ("{firstname} {lastname}", "{lastname} {firstname}", "{firstname} {lastname}",
               "{L}. {lastname}"),
    "bm": (
        "secret", "jardin", "voyage", "silence", "chant", "dernier été", "roi", "chemin",
        "printemps", "crime", "rêve", "monde", "temps", "village", "mystère", "royaume", "fleuve",
        "phare", "cercle", "soleil",
    ),
    "bf": (
        "maison", "nuit", "mer", "guerre", "route", "promesse", "mémoire", "forêt", "dame",
        "porte", "lumière", "rivière", "vie", "ville", "colline", "saison", "légende", "fille",
    ),
    "bplural": ("enfants", "ombres", "oiseaux", "amants", "rois", "étoiles", "sœurs", "héritiers"),
    "title": (
        "Le {bm} de {place}", "La {bf} de {place}", "Le {bm} et la {bf}", "La {bf} du {bm}",
        "Les Enfants de la {bf}", "Le Dernier {bm}", "Une {bf} à {place}", "La {bf} des {bplural}",
        "Mémoires d'un {person}", "{firstname} et le {bm}", "L'Homme de la {bf}",
        "Le {bm} des {bplural}", "Histoire de la {bf}", "Les {bplural} de {place}",
        "Un {bm} à {place}", "La Guerre des {bplural}",
    ),
    "person": (
        "jeune institutrice", "vieux marin", "détective privé", "médecin de campagne", "orphelin",
        "peintre", "journaliste", "soldat", "libraire",
    ),
    "publisher": (
        "Gallimard", "Flammarion", "Albin Michel", "Grasset", "Le Livre de Poche", "Actes Sud",
        "Seuil", "Robert Laffont", "Fayard", "Pocket", "Hachette", "Casterman", "Glénat",
        "Dargaud", "Larousse", "Nathan", "Belin", "Presses de la Cité", "J'ai Lu", "Milan",
    ),
    "genre": (
        "policier", "roman", "science-fiction", "jeunesse", "histoire", "cuisine", "fantasy",
        "biographie", "poésie", "philosophie", "bande dessinée", "manga", "scolaire", "voyage",
    ),
    "manga": (
        "One Piece", "Naruto", "Dragon Ball", "Fate/Zero", "Death Note", "Fairy Tail", "Bleach",
        "Hunter X Hunter", "L'Attaque Des Titans", "My Hero Academia", "Fullmetal Alchemist",
        "Détective Conan", "Astérix", "Tintin", "Lucky Luke", "Les Schtroumpfs",
        "Blake Et Mortimer", "Largo Winch", "Thorgal", "Spirou Et Fantasio",
    ),
    "collection": (
        "Folio", "Blanche", "Points", "Le Livre de Poche", "Bibliothèque Rose", "Chair de Poule",
        "Pléiade", "Que sais-je ?", "Babel", "Bibliothèque Verte",
    ),
    "mag_title": (
        "Journal Des Arts (Le)", "Paris Match", "L'Illustration", "Le Point", "L'Express",
        "Science & Vie", "Historia", "Le Figaro Magazine", "Elle", "Télé 7 Jours", "Le Pèlerin",
        "Spirou", "Le Nouvel Observateur", "Géo", "Afrique Contemporaine", "Diagrammes",
        "Univers (L')", "Auto Plus", "Onze Mondial", "Rock & Folk", "Première", "Marie Claire",
        "Ciné Revue", "Jours De France", "Le Chasseur Français", "Pilote",
    ),
    "mag_topic": (
        "L'art et son marché", "Salon d'art asiatique à Paris",
        "La réforme des ventes aux enchères",
        "Dossier Japon / Afrique", "Le siècle du pétrole", "Spécial élections",
        "La guerre d'Algérie", "Les Beatles à Paris", "Le Tour de France", "Mode printemps-été",
        "Le festival de Cannes", "La conquête spatiale", "Mai 68", "Les secrets de Versailles",
        "Johnny Hallyday", "Brigitte Bardot", "La Coupe du monde", "Napoléon",
        "Le général de Gaulle", "Les grands crus de Bordeaux", "Le salon de l'automobile",
    ),
    "topic": (
        "l'histoire de France", "la peinture impressionniste", "la cuisine provençale",
        "la Seconde Guerre mondiale", "la philosophie grecque", "l'architecture romane",
        "la musique baroque", "l'économie moderne", "la psychologie de l'enfant",
        "le jardinage biologique", "la mythologie", "les grands voyageurs",
    ),
    "root_book": ("{d}",) * 4
    + ("{d} {book_attr}", "{d} - {book_attr}", "{d} {book_attr}", "{d} - {generic}"),
    "book_attr": (
        "({year})", "- {publisher}", "- {author}", "Tome {#1-30}", "{publisher} {year}",
        "Édition De {year}", "- Broché", "- Poche", "Isbn 978{#2000000000-2999999999}",
        "{book_format} {#80-900} Pages",
    ),
    "painter": ("Monet", "Picasso", "Matisse", "Cézanne", "Renoir", "Chagall", "Soulages",
                "Gauguin"),
    "textbook": (
        "{subject} {level} - Manuel De L'Élève", "Méthode De {subject} - {level}",
        "Annales Du Bac {subject} {year_recent}",
        "{subject} - Cours Et Exercices {level}",
    ),
    "subject": ("Mathématiques", "Physique-Chimie", "Histoire-Géographie", "Français",
                "Anglais", "Allemand", "Latin", "Philosophie", "SVT", "Économie"),
    "level": ("6e", "5e", "4e", "3e", "Seconde", "Première", "Terminale", "CP", "CE1",
              "CM2", "Licence", "Prépa"),
    "guide": ("Du Routard {region}", "Vert Michelin {region}", "Des Champignons",
              "Des Oiseaux D'Europe", "Pratique Du Jardinier"),
    "book_state": ("bon", "très bon", "excellent", "assez bon", "parfait"),
    "books_s": (
        "Livre en {book_state} état.", "Couverture {cover}.", "{#80-900} pages.",
        "Édité par {publisher} en {year}.", "Format {book_format}.",
        "Quelques annotations au crayon.", "Ouvrage de référence sur {topic}.",
        "Texte en {language}.", "Auteur : {author}.",
    ),
    "cover": ("souple", "rigide", "cartonnée", "illustrée", "légèrement usée"),
    "book_format": ("poche", "broché", "relié", "grand format", "in-8", "in-4"),
    # Video games: import, accessories, consoles, used games, downloads.
    "game": (
        "Fifa {#14-21}", "Pro Evolution Soccer {year_recent}", "Need For Speed Carbon",
        "God Of War", "Call Of Duty Black Ops", "Assassin's Creed Unity", "Mario Kart 8",
        "Zelda Breath Of The Wild", "Pokémon Version {pk_version}", "Gran Turismo {#3-6}",
        "Grand Theft Auto V", "Rayman Legends", "Just Dance {#2014-2020}", "Minecraft",
        "Prince Of Persia", "Rainbow Six Vegas", "Resident Evil {#2-7}",
        "Final Fantasy {roman}", "Dragon Ball Xenoverse", "Crash Bandicoot", "Sonic Mania",
        "Tomb Raider", "The Witcher 3", "Red Dead Redemption", "Far Cry {#3-5}",
        "Battlefield {#1-4}", "Lego Star Wars", "Splatoon", "Metal Gear Solid",
        "Shin Megami Tensei", "Super Smash Bros", "Dark Souls", "Zumba Fitness Rush",
        "Baldur's Gate Dark Alliance", "Crusader Kings II", "Motogp {#14-19}",
        "Farming Simulator {#15-19}", "Euro Truck Simulator 2", "Virtua Tennis",
        "Les Sims {#2-4}", "Age Of Empires {roman}", "Diablo {roman}",
    ),
    "root_game": ("{d}",) * 4
    + ("{d} {game_attr}", "{d} - {game_attr}", "{d} {game_attr}", "{d} - {generic}"),
    "game_attr": (
        "- {platform}", "(Import)", "Édition {game_edition}", "Pegi {pegi}", "{game_publisher}",
        "Version {language}", "{year_recent}", "- {game_genre}", "Réf. {ref}",
    ),
    "game_edition": ("Collector", "Limitée", "Gold", "Standard", "Deluxe", "Platinum",
                     "Game Of The Year", "Day One"),
    "card_game": ("Pokémon", "Magic", "Yu-Gi-Oh!", "Dragon Ball Super", "Uno"),
    "pk_version": ("Rouge", "Bleue", "Or", "Argent", "Soleil", "Lune", "Épée", "Bouclier"),
    "roman": ("II", "III", "IV", "V", "VII", "X", "XII", "XV"),
    "platform": (
        "PS4", "PS3", "PS2", "Xbox 360", "Xbox One", "Nintendo Switch", "Wii", "Wii U",
        "Nintendo DS", "3DS", "PSP", "PS Vita", "Game Boy Advance", "Gamecube", "PC",
        "Mega Drive", "Super Nintendo",
    ),
    "game_s": (
        "Jeu compatible {platform}.", "Genre : {game_genre}.", "Édité par {game_publisher}.",
        "Jouable de 1 à {#2-4} joueurs.", "PEGI {pegi}.", "Version {platform}.",
    ),
    "game_genre": (
        "action", "aventure", "course", "sport", "combat", "plate-forme", "RPG", "stratégie",
        "simulation", "tir", "party game", "puzzle",
    ),
    "game_publisher": (
        "Ubisoft", "Electronic Arts", "Activision", "Nintendo", "Sony", "Square Enix", "Capcom",
        "Konami", "Bandai Namco", "Sega", "Bethesda", "Take-Two", "Paradox", "Focus Home",
    ),
    "pegi": ("3", "7", "12", "16", "18"),
    # Toys, games, collectibles.
    "character": (
        "Mickey", "Donald", "Peppa Pig", "Pat Patrouille", "Reine Des Neiges", "Spider-Man",
        "Minnie", "Winnie L'Ourson", "Cars", "Toy Story", "Barbie", "Pikachu", "Licorne",
        "Stitch", "Sonic", "Mario", "Oui-Oui", "Tchoupi",
    ),
    "toy_brand": (
        "Lego", "Playmobil", "Vtech", "Fisher-Price", "Mattel", "Hasbro", "Smoby", "Clementoni",
        "Janod", "Djeco", "Bandai", "Ravensburger", "Chicco", "Goliath",
    ),
    "toy_adj": ("Géant", "Lumineux", "Électronique", "Magique", "Interactif", "Musical", "Xxl"),
    "toy_s": (
        "Convient aux enfants à partir de {#1-12} ans.",
        "Attention : ne convient pas aux enfants de moins de 36 mois.", "Piles non incluses.",
        "Matière : {material}.", "Développe l'imagination et la motricité.",
        "Jouet idéal pour les anniversaires et Noël.", "Dimensions : {#10-60} cm.",
    ),
    "board_game": ("Monopoly", "Scrabble", "Cluedo", "Uno", "Dixit",
                   "Les Aventuriers Du Rail", "Catan", "Dobble", "Trivial Pursuit",
                   "Mille Bornes", "Puissance 4", "Jungle Speed", "Taboo", "Time's Up",
                   "Le Mot Le Plus Long", "Pictionary", "La Bonne Paye", "Qui Est-Ce",
                   "Carcassonne", "7 Wonders", "Azul", "Loups-Garous De Thiercelieux",
                   "Mysterium", "Skyjo", "Blanc Manger Coco"),
    "puzzle": (
        "Puzzle {#24-2000} Pièces {puzzle_theme}", "Puzzle 3D {animal} {#7-500} Pièces",
        "Wood Puzzle 3d {animal} {#7-60} Pièces",
    ),
    "puzzle_theme": (
        "Paysage", "Tour Eiffel", "Disney", "Van Gogh", "Carte Du Monde", "Animaux De La Ferme",
        "Château", "Coucher De Soleil", "Venise", "Pat Patrouille", "Reine Des Neiges",
    ),
    "slime": (
        "Slime {colour} Parfumé Anti-Stress",
        "Non Toxique Slime {colour} Mélange Nuage Relief Enfants Jouets Stress",
        "Squishies {animal} Squeeze Rising Slow Crème Parfumée Stress Relief",
        "{#60-500}ml {halloween} Slime Putty Parfumée Stress Enfants",
    ),
    "halloween": ("Halloween", "Tête De Mort", "Fantôme", "Citrouille", "Zombie", "Sorcière",
                  "Vampire"),
    "franchise": (
        "Star Wars", "Marvel", "Dragon Ball Z", "Harry Potter", "One Piece", "Naruto", "Pokémon",
        "Le Seigneur Des Anneaux", "Game Of Thrones", "Power Rangers", "Les Simpson", "DC Comics",
        "Jurassic World", "Transformers", "Super Mario", "Zelda", "Stranger Things",
        "Retour Vers Le Futur",
    ),
    "character_pop": (
        "Dark Vador", "Yoda", "Iron Man", "Spider-Man", "Batman", "Goku", "Vegeta",
        "Harry Potter", "Hermione", "Luffy", "Naruto", "Pikachu", "Gandalf", "Jon Snow",
        "Homer Simpson", "Optimus Prime", "Mario", "Link", "Groot", "Deadpool", "Joker",
        "Wonder Woman", "Stormtrooper", "Chewbacca",
    ),
    "car_make": ("Subaru", "Renault", "Peugeot", "Citroën", "Porsche", "Ferrari", "Ford",
                 "Alpine", "Bugatti", "Lamborghini", "Volkswagen"),
    "figurine": (
        "Figurine {character} {#5-30} Cm", "Figurine {franchise} {character_pop} {#10-30} Cm",
        "Figurine {character_pop} Articulée {#10-30} Cm",
    ),
    "rc": (
        "Voiture Radiocommandée {toy_adj} {colour} {#20-80} Km/H",
        "Drone Enfant {colour} Avec Caméra", "Hélicoptère Télécommandé {#2-4} Voies {colour}",
    ),
    # Home, garden and pool.
    "home_s": (
        "Dimensions : {#20-200} x {#20-200} cm.", "Matière : {material}.", "Entretien facile.",
        "S'intègre parfaitement dans tous les intérieurs.", "Style {style} et élégant.",
        "Idéal pour le salon, la chambre ou le bureau.", "Coloris : {colour}.",
    ),
    "garden_s": (
        "Résiste aux intempéries et aux UV.", "Idéal pour le jardin, la terrasse ou le balcon.",
        "Profitez de vos extérieurs en toute saison.", "Montage simple, sans outils.",
        "Livré avec notice de montage.", "Se range facilement à la fin de l'été.",
    ),
    "deco_theme": ("Forêt", "Tour Eiffel", "Zen", "Arbre De Vie", "Fleurs", "Citation",
                   "New York", "Papillons", "Mandala", "Plage"),
    "rug": ("Tapis {pattern} {#60-200}x{#90-290} Cm {colour}", "Tapis De Salon {style} {colour}"),
    "mirror": ("Miroir {style} {shape} {#40-100} Cm", "Miroir Mural {material} {colour}"),
    "shape": ("Rond", "Rectangulaire", "Ovale", "Soleil", "Hexagonal"),
    "cushion": (
        "Coussin {pattern} {#30-60}x{#30-60} Cm {colour}",
        "Housse De Coussin {pattern} {colour} Lot De {#2-4}",
        "Coussin En Peluche Canapé Throw Cover Home Decor {colour}",
    ),
    "lamp": (
        "Lampe {lamp_type} Led {colour}", "Lampe De Bureau {style} {colour}",
        "Lampe De Lecture Rechargeable Led Col De Cygne {colour}",
    ),
    "lamp_type": ("De Chevet", "À Poser", "Sur Pied", "De Table", "Tactile", "Champignon"),
    "pot": (
        "Pot {pot_name} - Diamètre {#20-80} Cm - {#5-90} L - {colour}",
        "Pot De Fleur {pot_name} Rond - {#20-80} Cm - {colour}",
        "Jardinière {material} {#40-100} Cm {colour}",
    ),
    "pot_name": ("Marina", "Eda", "Loft Urban", "Capri", "Toscane", "Elho", "Riviera", "Sevilla",
                 "Bergamo", "Nova"),
    "inflatable_pool": (
        "Piscine Gonflable {pool_kind} {#100-300} Cm {colour}",
        "Bouée Gonflable {float_type} {#60-200} Cm {colour}",
        "Pataugeoire {animal} {#100-200} Cm",
    ),
    "pool_kind": ("Enfant", "Ronde", "Rectangulaire", "Familiale", "Ovale"),
    "float_type": ("River Tube", "Flamant Rose", "Licorne", "Donut", "Pastèque", "Avocat",
                   "Crocodile", "Matelas"),
    "material_t": ("Coton", "Lin", "Polyester", "Velours", "Satin De Coton", "Percale",
                   "Microfibre", "Flanelle", "Polaire", "Coton Bio"),
}  # fmt: skip


@dataclass(frozen=True)
class _ClassVocab:
    pools: Mapping[str, tuple[str, ...]]  # must hold "d" (designation) and "s" (sentence)
    neighbours: tuple[int, ...]  # related classes, whose designations some rows borrow
    title_case: float  # share of designations Written Like This
    root: str = "root"


_VOCAB: Final[dict[int, _ClassVocab]] = {
    10: _ClassVocab(
        pools={
            "d": (
                "{title}", "{title}", "{title} - {author}", "{foreign_title}", "{foreign_title}",
                "{lastname} {L}: {foreign_title}", "{textbook}", "{title} ({year})",
                "Guide {guide} {year}", "Catalogue {catalogue}", "Histoire De {place}",
                "Les Églises Romanes De {region}", "{title}",
                "{mag_title} N° {#1-2500} - {mag_topic}",
            ),
            "foreign_title": (
                "The {en_noun} Of {en_place}", "Die {de_noun} Der {de_noun2}",
                "{de_adj} {de_noun}", "A Short History Of {en_topic}",
                "Das {de_noun2} Im {de_noun}", "The {en_adj} {en_noun}",
                "{en_topic}: An Introduction", "Il {it_noun} Di {place}",
            ),
            "en_noun": ("Garden", "River", "House", "Secret", "Journey", "War", "Island", "Night",
                        "King", "Mountain", "Letter", "Shadow"),
            "en_place": ("London", "Ireland", "The North", "Avalon", "Boston", "The Sea"),
            "en_adj": ("Lost", "Last", "Silent", "Golden", "Hidden", "Broken", "Little"),
            "en_topic": ("Economics", "Modern Art", "Philosophy", "The World", "Linguistics",
                         "Psychology"),
            "de_noun": ("Reise", "Geschichte", "Bildung", "Spur", "Welt", "Kunst", "Zeit",
                        "Stadt", "Liebe", "Erde"),
            "de_noun2": ("Planeten", "Menschen", "Kinder", "Sprache", "Wissenschaft", "Musik"),
            "de_adj": ("Heilsame", "Neue", "Kleine", "Große", "Letzte"),
            "it_noun": ("Giardino", "Viaggio", "Segreto", "Nome", "Cammino"),
            "catalogue": ("D'Exposition {painter} {year}", "Manufrance {year}",
                          "De La Redoute {year}", "Des Timbres De France {year}"),
            "s": (
                "{books_s}", "{books_s}", "{books_s}", "Livre d'occasion en {book_state} état.",
                "Quelques traces d'usure sur la couverture.", "Édition de {year}.",
                "Tampon de bibliothèque en page de garde.",
                "Pages jaunies mais intérieur propre.", "Exemplaire d'occasion vendu en l'état.",
                "Ancien livre de bibliothèque.", "Dos légèrement insolé.",
            ),
        },
        neighbours=(2705, 2403),
        title_case=0.95,
        root="root_book",
    ),
    2705: _ClassVocab(
        pools={
            "d": (
                "{title}", "{title}", "{title} - {author}", "{title} - Tome {#1-12}",
                "{title} : Roman", "{title} - {author} - {publisher}", "{manga} Tome {#1-40}",
                "{title} - Édition Collector", "Les {bplural} De {place}", "{title}", "{textbook}",
                "Guide {guide} {year_recent}",
            ),
            "s": (
                "{books_s}", "{books_s}", "{synopsis}", "{synopsis}", "{synopsis}", "{synopsis}",
                "Un roman {novel_adj} signé {author}.", "Collection {collection}.",
                "Paru le {dd}/{mm}/{year_recent}.", "ISBN : 978{#2000000000-2999999999}.",
                "Éditions {publisher}.", "Traduit de l'{lang_from} par {author}.",
                "Prix {prize} {year_recent}.",
            ),
            "synopsis": (
                "{firstname} a des idées de grandeur.",
                "{firstname} veut organiser {event} et s'arranger pour en être le vainqueur.",
                "Mais {firstname} s'en mêle et chambarde tous ses plans...",
                "Dans ce roman {novel_adj}, {author} raconte la vie de {firstname}, {person} "
                "à {place}.",
                "À {place}, en {year}, {firstname} découvre un terrible secret.",
                "Une histoire d'amour et de guerre entre {place} et {place}.",
                "Le destin de toute une famille sur trois générations.",
                "Un récit {novel_adj} sur {theme_book}.",
            ),
            "novel_adj": ("bouleversant", "captivant", "haletant", "poignant", "drôle",
                          "lumineux", "inoubliable"),
            "event": ("un jeu de guerre de boules de neige", "une grande fête au village",
                      "un concours de cuisine", "une expédition en montagne"),
            "theme_book": ("la mémoire", "l'exil", "la filiation", "l'amitié", "la résilience",
                           "le pouvoir"),
            "lang_from": ("anglais", "allemand", "italien", "espagnol", "américain"),
            "prize": ("Goncourt", "Renaudot", "Femina", "Médicis", "des Libraires",
                      "Interallié"),
        },
        neighbours=(10, 2403),
        title_case=0.9,
        root="root_book",
    ),
    2403: _ClassVocab(
        pools={
            "d": (
                "Lot De {#2-50} Livres {genre}", "{manga} - Lot Mangas - Tome 1 À {#3-30}",
                "{author} Oeuvres Complètes Tomes {#1-5} À {#6-20}",
                "Lot De {#3-60} Revues {mag_title}", "Collection {collection} - {#5-40} Volumes",
                "{manga} Log {#1-60}", "{manga} Tome {#1-60}",
                "Lot {#2-20} Livres {publisher} {genre}",
                "Encyclopédie {encyclo} En {#5-30} Volumes", "Lot De {#2-10} Romans {author}",
                "{title} + {title} + {title}", "Lot De {#2-12} Livres Grands Peintres {painter}",
            ),
            "encyclo": ("Universalis", "Larousse", "Alpha", "Tout L'Univers", "Britannica",
                        "Quillet"),
            "s": (
                "{books_s}", "{books_s}", "{books_s}", "Lot de livres en bon état général.",
                "Envoi en colis suivi.", "Vendus ensemble, pas de vente à l'unité.",
                "Liste des titres : {title}, {title}, {title}.",
                "Tomes {#1-10} à {#11-30} en très bon état.", "Collection complète.",
                "Quelques tomes manquants, voir photos.",
                "Idéal pour une bibliothèque familiale.",
            ),
        },
        neighbours=(10, 2705, 2280),
        title_case=0.95,
        root="root_book",
    ),
    2280: _ClassVocab(
        pools={
            "d": (
                "{mag_title} N° {#1-2500} Du {dd}/{mm}/{year} - {mag_topic} - {author}",
                "{mag_title} N° {#1-500} {season} {year} - Dossier {mag_topic}",
                "{mag_title} N°{#1-999} : {mag_topic}",
                "{mag_title} N° {#1-2500} Du {dd}/{mm}/{year} - {mag_topic} - {mag_topic}",
                "{mag_title} Hors-Série N° {#1-99} - {mag_topic}",
                "Lot De {#2-10} Numéros {mag_title} {year}", "{mag_title} - {mag_topic}",
            ),
            "season": ("Printemps", "Été", "Automne", "Hiver"),
            "s": (
                "{books_s}", "{books_s}", "Revue en bon état.", "Numéro de {year}.",
                "Sommaire : {mag_topic}, {mag_topic} et {mag_topic}.",
                "Magazine complet avec ses pages centrales.", "Journal ancien, papier jauni.",
                "Bel exemplaire pour collectionneur.", "Parution du {dd}/{mm}/{year}.",
                "Article de {author} sur {mag_topic}.",
            ),
        },
        neighbours=(2403, 10),
        title_case=0.95,
        root="root_book",
    ),
    40: _ClassVocab(
        pools={
            "d": (
                "{game} [Import {import_country}] [Jeu {platform}]",
                "{game} (Import {import_short})", "{game} - {platform} - Import {import_country}",
                "{game} {platform} Version {import_short}", "{game} [Import {import_country}]",
                "{game} {platform}", "{game} - {platform}",
            ),
            "import_country": ("Allemand", "Anglais", "Italien", "Espagnol", "Japonais", "Us",
                               "Asiatique"),
            "import_short": ("Jap", "Us", "Uk", "Allemand", "Asie"),
            "import_adj": ("allemande", "anglaise", "japonaise", "américaine", "italienne",
                           "espagnole", "asiatique"),
            "s": (
                "{game_s}", "{game_s}", "{game_s}", "Jeu en version import {import_adj}.",
                "Langue : {language}.", "Compatible avec les consoles européennes.",
                "Textes et voix en {language}.", "Boîte et notice en {language}.",
                "Import officiel, sous blister.",
                "Version {import_adj} identique à la version française.",
            ),
        },
        neighbours=(2462, 50, 2905),
        title_case=0.9,
        root="root_game",
    ),
    50: _ClassVocab(
        pools={
            "d": (
                "Manette Sans Fil Pour {platform} - {colour}",
                "Grand Stylet Ergonomique {colour} Gamepad {platform} - {acc_brand}",
                "Station De Charge Double Manette {platform}",
                "Housse De Protection {platform} {colour}",
                "Casque Gaming {acc_brand} Micro Rétroéclairé Pour {platform}",
                "Fauteuil De Bureau Gaming {colour} Et {colour}",
                "Volant {acc_brand} {platform} Avec Pédalier",
                "Câble Hdmi {#1-5} M Pour {platform}",
                "Carte Mémoire {#4-64} Go Pour {platform}",
                "{acc_brand} {pad_name} - Gamepad - Sans Fil - Bluetooth - {colour} - "
                "Pour {platform}",
                "Contrôleur De Jeu Mobile Joysticks Poignée Gamepad Pour {mobile_game} {colour}",
                "Protection Écran Verre Trempé {platform}",
            ),
            "acc_brand": ("Speedlink", "Sony", "Nintendo", "Thrustmaster", "Hori", "PowerA",
                          "Subsonic", "Konix", "Turtle Beach", "Logitech", "Razer", "Nacon"),
            "pad_name": ("Dualshock 4 V2", "Pro Controller", "Joy-Con", "Wireless Controller",
                         "Revolution Pro", "Pilot Style"),
            "mobile_game": ("Pubg", "Fortnite", "Call Of Duty Mobile", "Free Fire"),
            "s": (
                "{game_s}", "Compatibilité : {platform}.",
                "Pour un confort optimal et une précision maximale.",
                "Connexion sans fil Bluetooth.", "Batterie rechargeable {#400-2000} mAh.",
                "Longueur du câble : {#1-3} m.", "Modèle : {acc_brand} {pad_name}.",
                "Réf. fabricant : {ref}.", "Forme ergonomique, excellente tenue en main.",
                "Livré avec un support de fixation.", "Plug and play, aucun pilote nécessaire.",
            ),
        },
        neighbours=(60, 40),
        title_case=0.9,
        root="root_seller",
    ),
    60: _ClassVocab(
        pools={
            "d": (
                "Console {platform} {#8-1000} Go {colour} + {#1-3} Manettes",
                "Mini Console De Jeux Rétro {#8-16} Bits {#100-3000} Jeux Intégrés",
                "Console De Jeu Vidéo Portable {#3-7} Pouces {#100-3000} Jeux Classiques",
                "{console_name} Édition {console_edition} {colour}",
                "Pack Console {platform} + {game}",
                "Nouvelle Console De Jeu Vidéo Portable Rétro {#8-32} Gb Lecteur De Jeu "
                "Intégré {#100-3000} Jeux",
                "Double Joystick {#3-7} Pouces Console De Jeu Vidéo {#100-1000} Types Multimédia",
                "{console_name} {colour}", "Console {console_name} + Manette {colour}",
            ),
            "console_name": (
                "Playstation 4 Slim", "Playstation 4 Pro", "Xbox One S", "Xbox One X",
                "Nintendo Switch", "Nintendo 3DS XL", "New 2DS XL", "Wii U",
                "Super Nintendo Classic Mini", "Nes Classic Mini", "Playstation Classic",
                "Sega Mega Drive Mini", "PS Vita",
            ),
            "console_edition": ("Limitée", "Collector", "Spéciale", "{game}", "Noël"),
            "s": (
                "{game_s}", "Console de jeux rétro portable.", "Sortie AV vers TV.",
                "Écran couleur de {#3-7} pouces.", "Mémoire {#8-64} Go.",
                "Livré avec câble de charge, manuel et {#1-2} manettes.",
                "Idéal pour les nostalgiques des jeux classiques.",
                "Meilleur cadeau pour enfants et adultes.",
                "Console en parfait état de fonctionnement.", "Compatible {platform}.",
            ),
        },
        neighbours=(50, 2462),
        title_case=0.9,
        root="root_seller",
    ),
    2462: _ClassVocab(
        pools={
            "d": (
                "Lot De {#2-15} Jeux {platform}",
                "Lot - {game} - {platform} + {#1-5} Jeu {platform}",
                "{platform} + Chargeur + Sacoche + {#2-20} Jeux",
                "Console {platform} + {#1-4} Manettes + {#2-10} Jeux", "{game} {platform}",
                "Lot De {#2-10} Jeux Video {platform} ({game} {game} {game})",
                "{game} {platform} Occasion", "Lot {game} + {game} {platform}",
                "Manette {platform} {colour} Occasion", "{game} - {platform}",
            ),
            "s": (
                "{game_s}", "{game_s}", "Jeux en bon état, testés et fonctionnels.",
                "Vendu sans notice.", "Boîtiers rayés mais disques en très bon état.",
                "Voir photos.", "Console d'occasion, quelques rayures.",
                "Tous les jeux sont complets.", "Lot vendu tel quel.", "Cartouches testées.",
            ),
        },
        neighbours=(40, 60),
        title_case=0.9,
        root="root_game",
    ),
    2905: _ClassVocab(
        pools={
            "d": (
                "{game} - Jeu En Téléchargement", "{game} - Dlc - Jeu En Téléchargement",
                "{game} - Season Pass (Extension) - Jeu En Téléchargement",
                "{game}: {dlc_name} - Dlc - Jeu En Téléchargement",
                "{game} - Édition {dl_edition} - Jeu En Téléchargement", "{game} Pc",
                "{game} - {platform}",
            ),
            "dlc_name": ("Rajas Of India", "Expansion Pass", "Soundtrack", "Pack De Cartes",
                         "Old Gods", "Holy Fury", "Blood And Wine", "Anniversary Pack"),
            "dl_edition": ("Deluxe", "Gold", "Game Of The Year", "Complète", "Standard"),
            "store": ("Steam", "Uplay", "Origin", "Epic Games", "GOG", "Battle.net"),
            "os": ("Windows 7", "Windows 8", "Windows 10", "macOS"),
            "gpu": ("GeForce GTX {#660-1080}", "Radeon RX {#460-590}", "Intel HD {#4000-6000}"),
            "s": (
                "{game_s}", "Jeu PC à télécharger, clé d'activation {store}.",
                "Configuration minimale : {os}, {#4-16} Go de RAM, carte graphique {gpu}.",
                "Attention : ce produit est un code de téléchargement, aucun support physique "
                "ne sera livré.",
                "Nécessite une connexion internet et un compte {store}.",
                "Le code est envoyé par e-mail après validation de la commande.",
                "Extension nécessitant le jeu de base.",
            ),
        },
        neighbours=(40, 2462),
        title_case=0.95,
        root="root_game",
    ),
    1140: _ClassVocab(
        pools={
            "d": (
                "Figurine Funko Pop {character_pop} N°{#1-999}",
                "{franchise} - Figurine {character_pop} {#10-30} Cm",
                "Mug {franchise} {character_pop}", "Porte-Clés {franchise} {character_pop}",
                "Magnet {place} {#1-99}", "Lampe {franchise} - Lampe Néon {neon}",
                "Véhicule {franchise} {ref}", "Statuette {franchise} {character_pop} Collector",
                "{character_pop} {franchise} Figurine Transformable {#10-30} Cm",
                "Poster {franchise} {#40-90}x{#60-120} Cm", "{figurine}",
                "Peluche {character_pop} {#15-40} Cm",
            ),
            "neon": ("Sabre Laser", "Logo", "Bat-Signal", "Poké Ball", "Étoile Noire"),
            "pop_brand": ("Funko", "Hasbro", "Bandai", "Banpresto", "Hot Toys", "Abystyle",
                          "Tamashii Nations", "Kotobukiya"),
            "s": (
                "{toy_s}", "Figurine officielle sous licence {franchise}.",
                "Idéal pour les collectionneurs et les fans de {franchise}.",
                "Boîte d'origine, jamais ouverte.", "Hauteur : {#5-40} cm.",
                "Produit dérivé officiel.", "Matière : PVC.", "Fabriqué par {pop_brand}.",
            ),
        },
        neighbours=(1280, 1180),
        title_case=0.9,
    ),
    1160: _ClassVocab(
        pools={
            "d": (
                "Carte Pokémon {pokemon} {#1-250}/{#100-250} {rarity}",
                "Dragon Ball Super - Bt{#1-9}-{#1-150} - {card_name} - {rarity}",
                "N° {#1-500} {footballer} - {club} - Adrenalyn {adrenalyn}",
                "{mtg_card} - {rarity} - {mtg_set} - Vf - Magic",
                "Yu-Gi-Oh! {yugioh} {L}{L}{L}{L}-Fr{#1-99} {rarity}",
                "Lot De {#10-200} Cartes Pokémon Dont {rarity}",
                "Dragon Ball Z - Serie {#1-5} - {#1-99} - Francaise",
                "Carte Panini {footballer} {club} {year_recent}", "Booster {card_game} {mtg_set}",
                "Jeu De Cartes {card_game} Starter Deck {mtg_set}",
            ),
            "pokemon": ("Pikachu", "Dracaufeu", "Mewtwo", "Évoli", "Ronflex", "Lucario",
                        "Rayquaza", "Mew", "Tortank", "Florizarre", "Ectoplasma", "Léviator",
                        "Salamèche", "Carapuce", "Bulbizarre", "Dracolosse"),
            "rarity": ("Commune", "Peu Commune", "Rare", "Holo", "Ultra Rare", "Secrète",
                       "Reverse", "Full Art", "Gx", "Ex", "Mythique"),
            "card_name": ("Les Prémisses De La Peur", "Son Goku Super Saiyan",
                          "Vegeta Prince Des Saiyans", "C-13", "Freezer Forme Finale",
                          "Broly Légendaire", "Gohan Ultime"),
            "footballer": ("Roberto Pereyra", "Kylian Mbappé", "Antoine Griezmann",
                           "Lionel Messi", "Neymar Jr", "Paul Pogba", "Hugo Lloris",
                           "Karim Benzema", "N'golo Kanté", "Cristiano Ronaldo", "Eden Hazard",
                           "Dimitri Payet"),
            "club": ("Juventus", "Psg", "Om", "Real Madrid", "Barcelone", "Ol", "Chelsea",
                     "Bayern Munich", "Manchester United", "Monaco"),
            "adrenalyn": ("Fifa 365", "Xl Ligue 1", "Xl Champions League", "Euro 2016",
                          "Coupe Du Monde 2018"),
            "mtg_card": ("Drakôn À Écailles De Chrome", "Seigneur Des Vampires",
                         "Ange De La Miséricorde", "Liliana Du Voile", "Golem De Sang",
                         "Forêt", "Marais", "Sphinx De L'Esprit", "Hydre Des Profondeurs"),
            "mtg_set": ("Sombracier", "Innistrad", "Zendikar", "Dominaria", "Ixalan", "Théros",
                        "Kaladesh", "Ravnica", "Amonkhet"),
            "yugioh": ("Magicien Sombre", "Dragon Blanc Aux Yeux Bleus", "Kuriboh", "Exodia",
                       "Dragon Noir Aux Yeux Rouges", "Slifer Le Dragon Céleste"),
            "card_state": ("parfait", "excellent", "très bon", "bon"),
            "s": (
                "Carte en {card_state} état, sortie de booster.", "Carte officielle en français.",
                "Protégée en sleeve et toploader.", "Édition {mtg_set}.",
                "Idéal pour compléter votre collection.", "Envoi sous protection rigide.",
                "Carte {rarity} en version française.", "{toy_s}",
            ),
        },
        neighbours=(1281, 1140),
        title_case=0.9,
    ),
    1180: _ClassVocab(
        pools={
            "d": (
                "Warhammer 40000 ( 40k ) - {wh_unit} ({#10-99}-{#10-99})",
                "Le Seigneur Des Anneaux Figurine En Plomb À Peindre : {lotr_char}",
                "{wh_faction} - {wh_unit} - Games Workshop",
                "{rpg_game} - Écran Et Cartes Du Meneur",
                "Figurine À Peindre {#25-54} Mm {fantasy_char}",
                "Peinture Citadel {citadel} {#12-24} Ml",
                "Warhammer Age Of Sigmar - {wh_faction} - {wh_unit}",
                "{wh_faction} {wh_unit} À Pied Et Monté", "{figurine}",
                "Jeu De Plateau {rpg_game} Boîte De Base",
            ),
            "wh_unit": ("Exo Armure Xv88 Broadside", "Space Marines Tactiques", "Dreadnought",
                        "Gardiens Nécrons", "Chevaliers Gris", "Boyz Orks", "Land Raider",
                        "Terminators", "Guerriers Squelettes", "Hallebardiers",
                        "Chevaliers Du Graal"),
            "wh_faction": ("Space Marines", "Orks", "Eldars", "Tau", "Nécrons", "Chaos",
                           "Comtes Vampires", "Hauts Elfes", "Nains", "Skavens",
                           "Stormcast Eternals", "Lahmiane"),
            "lotr_char": ("Sam", "Frodon", "Gandalf", "Aragorn", "Legolas", "Gimli", "Boromir",
                          "Gollum", "Roi-Sorcier", "Saroumane"),
            "rpg_game": ("Mournblade", "Donjons Et Dragons", "L'Appel De Cthulhu", "Pathfinder",
                         "Warhammer Le Jeu De Rôle", "Vampire La Mascarade"),
            "fantasy_char": ("Guerrier Nain", "Magicienne Elfe", "Paladin", "Nécromancien",
                             "Barbare", "Dragon Rouge", "Gobelin Archer", "Chevalier Mort-Vivant"),
            "citadel": ("Mephiston Red", "Abaddon Black", "Retributor Armour", "Leadbelcher",
                        "Nuln Oil", "Agrax Earthshade", "Corax White", "Macragge Blue"),
            "s": (
                "Figurine en plastique livrée non peinte et non montée.", "Socle inclus.",
                "Figurine en métal, à peindre.",
                "Nécessite colle et peinture, vendues séparément.",
                "Boîte complète, grappes non découpées.", "Jeu de figurines pour {#2-4} joueurs.",
                "Échelle {#25-54} mm.", "Compatible avec le livre d'armée {wh_faction}.",
                "{toy_s}",
            ),
        },
        neighbours=(1140, 1281),
        title_case=0.9,
    ),
    1280: _ClassVocab(
        pools={
            "d": (
                "Peluche {character} {#15-80} Cm", "Poupée {doll}",
                "Jouet {toy_item} Pour Enfants {colour}",
                "{toy_brand} - {#10000-99999} - {toy_item}",
                "Jouet De Bain {animal} {colour}", "{puzzle}", "{rc}",
                "Peluche {animal} {colour} {#15-80} Cm", "{character} {toy_item} {toy_brand}",
                "{#50-200}pcs Bâtons Lumineux Bracelets Fluo Fête",
                "Jouet Sensoriel Dentition Bébé {#0-12} Mois", "{figurine}",
                "Déguisement {character} Taille {#3-12} Ans", "{slime}",
                "Jeu De Société {board_game} Junior", "Voiture Miniature {car_make} {colour}",
                "Trousse Scolaire {colour} {character}",
            ),
            "doll": ("Barbie {barbie}", "Corolle {doll_name}", "Poupon {doll_name} {#30-45} Cm",
                     "Glitter Beach Barbie {barbie}", "Mini Pouce {doll_name}",
                     "Poupée Mannequin {doll_name}"),
            "barbie": ("Dreamhouse", "Princesse", "Sirène", "Fashionistas", "Vétérinaire",
                       "Cheffe Pâtissière"),
            "doll_name": ("Léa", "Emma", "Chloé", "Jade", "Lou", "Manon", "Inès"),
            "toy_item": ("Cuisine En Bois", "Garage Avec Voitures", "Train En Bois",
                         "Tapis De Jeu", "Xylophone", "Trotteur", "Cube D'Activités", "Dînette",
                         "Caisse Enregistreuse", "Château Fort", "Maison De Poupée",
                         "Boîte À Formes", "Tableau Magnétique", "Kit De Docteur"),
            "s": (
                "{toy_s}", "{toy_s}", "{toy_s}",
                "Peluche toute douce, lavable en machine à {#30-40} °C.",
                "Jouet d'éveil aux couleurs vives.", "Fabriqué en {material} de qualité.",
                "Conforme aux normes CE.", "Produit sous licence officielle {character}.",
            ),
        },
        neighbours=(1281, 1302, 1140, 1300),
        title_case=0.85,
        root="root_seller",
    ),
    1281: _ClassVocab(
        pools={
            "d": (
                "Jeu De Société {board_game}", "{board_game} - {toy_brand}",
                "{board_game} - Édition {bg_edition}", "Jeu De Cartes {board_game}", "{puzzle}",
                "{slime}", "Jeu D'Échecs En Bois {#20-50} Cm", "Casse-Tête {toy_adj} En {material}",
                "{board_game} Extension {bg_edition}", "{board_game}", "Jeu De Dés {board_game}",
                "Coffret Jeux {#5-100} En 1", "Jeu De Cartes {card_game} {colour}",
                "{card_game} - Deck De Démarrage {colour}",
            ),
            "bg_edition": ("Famille", "Voyage", "Junior", "Deluxe", "Classique", "Collector",
                           "Harry Potter", "Star Wars"),
            "s": (
                "{toy_s}", "{toy_s}", "Jeu de société pour {#2-8} joueurs.",
                "Durée d'une partie : {#10-90} minutes.", "À partir de {#4-14} ans.",
                "Contient : plateau, cartes, pions et règles du jeu.", "Règles en français.",
                "Un jeu d'ambiance pour toute la famille.", "Jeu de stratégie et de réflexion.",
                "Boîte complète, vérifiée.",
            ),
        },
        neighbours=(1280, 1160, 1302),
        title_case=0.9,
    ),
    1302: _ClassVocab(
        pools={
            "d": (
                "Trampoline {#180-430} Cm Avec Filet De Sécurité",
                "Balançoire {material} Pour Enfants {colour}", "{inflatable_pool}",
                "{#1-10}pc Leurres {#5-15}cm Plastique Appâts {#4-10} Couleurs Pêche",
                "{slime}", "Masque {halloween} Horreur Déguisement Fête {colour} {size}",
                "Cerf-Volant {animal} {colour} {#1-3} M", "Ballon De {sport} Taille {#3-5}",
                "Trottinette {colour} Pliable {#2-3} Roues", "Toboggan De Jardin {#1-3} M {colour}",
                "Pistolet À Eau {toy_adj} {colour}", "Tente De Jeu Enfant {character}",
                "Vélo Enfant {#12-20} Pouces {colour}", "Raquettes De {sport2} {colour}", "{rc}",
                "Jeu De Pétanque {#6-8} Boules {material}", "Jeu De Quilles En Bois {#6-10} Pièces",
                "Mölkky En Bois {colour}",
            ),
            "sport": ("Football", "Basket", "Volley", "Rugby", "Handball"),
            "sport2": ("Badminton", "Plage", "Ping-Pong", "Tennis"),
            "s": (
                "{toy_s}", "{garden_s}", "Pour jouer en plein air tout l'été.",
                "Structure en acier galvanisé.", "Charge maximale : {#50-150} kg.",
                "Facile à monter et à ranger.", "Jouet d'extérieur pour toute la famille.",
                "Matière : {material}.", "Idéal pour la pêche en eau douce.",
                "Parfait pour les fêtes et Halloween.",
            ),
        },
        neighbours=(1280, 1281, 2583),
        title_case=0.85,
        root="root_seller",
    ),
    1300: _ClassVocab(
        pools={
            "d": (
                "Drone {drone_brand} {drone_model} Caméra {res} Wifi Fpv",
                "Hélicoptère Radiocommandé {#2-4} Voies {colour}",
                "Voiture Rc 1/{#8-24} {car_make} {colour} {#20-80} Km/H",
                "{car_make} {car_model} {#1950-2020} - {diecast} 1/{scale}",
                "{train_brand} - {#10000-99999} - Modélisme Ferroviaire - {rail_item}",
                "Body Wrap Peau Autocollant Pour {drone_brand} {drone_model} Drone",
                "Batterie Lipo {#500-5000} Mah {#1-4}s Pour Drone",
                "Hélices De Rechange Pour {drone_brand} {drone_model}",
                "2.4g {#4-6}ch Rc Quadcopter Pocket Drone Selfie Pliable {colour} {#1000-9999}",
                "Maquette {maquette} 1/{scale} {maquette_brand}",
                "Avion Rc {plane} {#400-1200} Mm", "{rc}",
            ),
            "drone_brand": ("Dji", "Parrot", "Syma", "Hubsan", "Xiaomi Fimi", "Eachine",
                            "Holy Stone", "Potensic"),
            "drone_model": ("Phantom 4 Pro", "Mavic Air", "Mavic Pro", "Spark", "Bebop 2",
                            "Anafi", "X5c", "H501s", "Tello", "Mini 2"),
            "res": ("Hd", "4k", "1080p", "720p"),
            "car_model": ("Impreza Wrx Police", "5 Turbo", "205 Gti", "2cv", "911 Carrera",
                          "F40", "Mustang", "A110", "Chiron", "Countach", "Coccinelle", "Ds 21"),
            "diecast": ("Norev", "Solido", "Bburago", "Minichamps", "Ixo", "Maisto", "Spark",
                        "Hot Wheels"),
            "scale": ("8", "12", "18", "24", "32", "43", "64", "87"),
            "train_brand": ("Noch", "Jouef", "Roco", "Märklin", "Piko", "Fleischmann", "Faller",
                            "Hornby"),
            "rail_item": ("Passerelle", "Gare De Campagne", "Locomotive Bb {#1000-9999}",
                          "Wagon Citerne", "Aiguillage Électrique", "Coffret Départ",
                          "Pont Métallique"),
            "maquette": ("Avion Spitfire", "Char Tigre", "Porte-Avions", "Voilier Belem",
                         "Hélicoptère Puma", "Bateau Titanic"),
            "maquette_brand": ("Heller", "Revell", "Airfix", "Tamiya", "Italeri"),
            "plane": ("Cessna", "Planeur", "Warbird", "Jet Edf"),
            "s": (
                "Drone quadricoptère avec caméra intégrée.",
                "Portée de la télécommande : {#30-500} m.",
                "Autonomie : {#5-30} minutes de vol.", "Batterie lipo rechargeable incluse.",
                "Modèle réduit de collection, échelle 1/{scale}.",
                "Maquette à monter, colle et peinture non incluses.",
                "Compatible avec {drone_brand} {drone_model}.",
                "Fonction retour automatique et maintien d'altitude.",
                "Reproduction fidèle en métal moulé.", "{toy_s}",
            ),
        },
        neighbours=(1280, 1140),
        title_case=0.85,
        root="root_seller",
    ),
    1301: _ClassVocab(
        pools={
            "d": (
                "Chaussettes Bébé {#0-24} Mois Antidérapantes {pattern} {colour}",
                "Nouveau-Né Bébé Garçons Filles {pattern} Chaussettes Anti-Slip Unisexe",
                "{#6-12} Balles De Baby-Foot {babyfoot_brand} Balles En Liège",
                "Fléchettes {#18-26}g En Tungstène {dart_brand}",
                "Body Bébé {pattern} Manches Longues {colour}",
                "Baby-Foot {babyfoot_brand} {babyfoot_model}",
                "Cible De Fléchettes Électronique {#2-8} Joueurs",
                "Enfants Bébé Tout-Petits {pattern} Chaussettes Chaudes",
                "Lot De {#3-12} Paires Chaussettes Bébé {colour}",
                "Pyjama Bébé {pattern} {#0-36} Mois",
                "Set {#3-6} Pcs Fléchettes Pointe Acier Professionnel",
            ),
            "babyfoot_brand": ("Bonzini", "Stella", "René Pierre", "Garlando", "Sulpie",
                               "Leonhart"),
            "babyfoot_model": ("Pro", "Champion", "Competition", "Tradition", "Family"),
            "dart_brand": ("Winmau", "Unicorn", "Harrows", "Target", "Cavalier"),
            "s": (
                "Taille : {#0-36} mois.", "Matière : coton doux et respirant.",
                "Semelle antidérapante pour les premiers pas.", "Lavable en machine.",
                "Balles officielles de compétition.", "Pointe acier, fût en tungstène.",
                "{toy_s}", "Lot de {#2-12} paires.",
            ),
        },
        neighbours=(1320, 1302),
        title_case=0.5,
        root="root_seller",
    ),
    1320: _ClassVocab(
        pools={
            "d": (
                "Poussette {poussette} {baby_brand} {colour}",
                "Siège Auto {baby_brand} Groupe {seat_group} De {#0-15} À {#18-36} Kg",
                "Lit Parapluie {colour} Avec Matelas", "Chaise Haute Évolutive {material} {colour}",
                "Babyphone Vidéo {baby_brand}", "Coffre À Jouets En {material} {colour}",
                "Tapis D'Éveil {character}", "Gigoteuse {#0-36} Mois {pattern}",
                "Biberon {baby_brand} {#150-330} Ml", "Matelas À Langer {colour}", "{puzzle}",
                "Porte-Bébé Ergonomique {baby_brand}", "Stérilisateur Électrique {baby_brand}",
                "Veilleuse {animal} Musicale", "Tapis De Jeu {character} {#80-150} Cm",
            ),
            "poussette": ("3 En 1", "Canne", "Combinée", "Tout-Terrain", "Double", "Compacte"),
            "seat_group": ("0+", "1", "2/3", "0+/1", "1/2/3"),
            "baby_brand": ("Chicco", "Bébé Confort", "Babymoov", "Tommee Tippee", "Maxi-Cosi",
                           "Cybex", "Trois Kilos Sept", "Avent", "Nattou", "Largo", "Mycarsit",
                           "Badabulle"),
            "norm": ("ECE R44/04", "R129 i-Size", "EN 1888", "EN 716"),
            "s": (
                "{toy_s}", "Conforme à la norme {norm}.",
                "Convient dès la naissance jusqu'à {#3-4} ans.", "Harnais 5 points réglable.",
                "Se plie en un clin d'œil.", "Housse amovible et lavable.",
                "Protections latérales renforcées.", "Idéal pour les premiers mois de bébé.",
                "Sans BPA.",
            ),
        },
        neighbours=(1280, 1301),
        title_case=0.85,
    ),
    1560: _ClassVocab(
        pools={
            "d": (
                "Fauteuil {style} {material_f} - {colour}",
                "Lot De {#2-6} Chaises De Salle À Manger Style {style} {colour}",
                "Table Basse {style} En {material_f} {#60-140} Cm",
                "Canapé {#2-4} Places {material_f} {colour}",
                "Commode {#3-6} Tiroirs {material_f} {colour}",
                "Étagère {#3-6} Niveaux {material_f} {colour}",
                "Meuble Tv {style} {#100-200} Cm {colour}", "Bureau {style} {material_f} {colour}",
                "Lit {bed} Avec Sommier {colour}", "Armoire {#2-4} Portes {material_f}",
                "Buffet {style} {material_f} {#120-180} Cm",
                "Tabouret De Bar {style} {colour} Lot De {#2-4}",
                "Crochets Plafond À Vis Suspendus Cuisine {#5-20}pc", "{lamp}",
                "Matelas {bed} Mémoire De Forme {#15-30} Cm", "{mirror}", "{rug}",
            ),
            "material_f": ("Bois Massif", "Chêne", "Pin", "Hêtre", "Métal", "Cuir", "Velours",
                           "Tissu", "Mdf", "Verre Trempé", "Rotin", "Simili Cuir", "Noyer",
                           "Teck"),
            "bed": ("90x190", "140x190", "160x200", "180x200"),
            "s": (
                "{home_s}", "{home_s}", "{home_s}",
                "Un design {design_adj} qui s'intègre dans tous les intérieurs.",
                "Dimensions : L {#40-200} x l {#30-100} x H {#40-200} cm.",
                "Montage facile, notice incluse.",
                "Ce meuble sera parfait dans un salon, une chambre ou un bureau.",
                "Structure en {material_f} robuste.", "Assise confortable et rembourrée.",
                "Capitonnage marqué du dossier.", "Pieds en {material_f}.",
            ),
        },
        neighbours=(2060, 2582, 1920),
        title_case=0.9,
        root="root_seller",
    ),
    1920: _ClassVocab(
        pools={
            "d": (
                "Housse De Couette {#140-260} X {#200-240} Cm {pattern} {colour}",
                "Paire De Voilages {pattern} {colour}",
                "Rideau À Oeillets {material_t} {colour} {#140-145} X {#240-280} Cm",
                "{cushion}", "Taie D'Oreiller {material_t} {colour} Lot De {#2-4}",
                "Plaid {material_t} {colour} {#130-180}x{#150-230} Cm",
                "Drap Housse {#90-180} X {#190-200} Cm {colour}",
                "Nappe {pattern} {#140-180} X {#200-300} Cm",
                "Serviette De Bain {material_t} {colour} {#50-100}x{#90-150}",
                "Parure De Lit {#2-3} Personnes {pattern}",
                "Couette {#200-260}x{#200-240} Cm {#200-500}g", "Tapis De Bain {pattern} {colour}",
                "{cushion}", "{rug}",
            ),
            "s": (
                "{home_s}", "{home_s}", "Lavable en machine à {#30-60} °C.",
                "Tissu doux et agréable au toucher.", "100 % {material_t}.",
                "Fermeture par zip invisible.", "Oeillets métalliques pour une pose facile.",
                "Coloris résistant aux lavages.",
                "Parure composée d'une housse de couette et de {#1-2} taies d'oreiller.",
                "Certifié Oeko-Tex.",
            ),
        },
        neighbours=(2060, 1560),
        title_case=0.85,
        root="root_seller",
    ),
    1940: _ClassVocab(
        pools={
            "d": (
                "Lot De {#2-10} Sachet {candy} {#50-500}g",
                "Tassimo {coffee_brand} {coffee} {#2-5} X 16 T-Discs",
                "Dolce Gusto {coffee} {#16-30} Caps. {#90-300}g",
                "{tea_brand} Thé {tea} - Vrac/Boîte Métal {#50-250}g",
                "Chocolat {chocolate} {#100-500}g",
                "Capsules Compatibles Nespresso {coffee} X{#10-100}",
                "Huile D'Olive Vierge Extra {oil_size}", "Bonbons {candy} Sans Gluten {#100-1000}g",
                "Miel {honey} {#250-1000}g", "Épices {spice} {#50-200}g",
                "Café En Grains {coffee_brand} {#250-1000}g",
                "Biscuits {biscuit} {#100-400}g X {#2-12}",
            ),
            "candy": ("Chewing Gum Pastèque", "Fraises Tagada", "Oursons Guimauve", "Réglisse",
                      "Dragibus", "Carambar", "Bonbons Acidulés", "Nougat"),
            "coffee_brand": ("Jacobs", "Carte Noire", "L'Or", "Lavazza", "Grand Mère", "Maxwell",
                             "Illy", "Malongo"),
            "coffee": ("Espresso", "Lungo", "Cappuccino", "Café Au Lait", "Ristretto",
                       "Décaféiné", "Chocolat Chaud"),
            "tea_brand": ("Twinings", "Kusmi Tea", "Lipton", "Dammann Frères", "Mariage Frères",
                          "Palais Des Thés"),
            "tea": ("Gunpowder Vert Menthe", "Earl Grey", "Darjeeling", "Rooibos",
                    "Thé Noir Citron", "Matcha", "Jasmin"),
            "chocolate": ("Noir 70%", "Au Lait", "Praliné", "Blanc Vanille", "Noir Orange"),
            "oil_size": ("50 Cl", "1 L", "75 Cl", "3 L"),
            "honey": ("De Lavande", "D'Acacia", "De Châtaignier", "Toutes Fleurs", "De Thym"),
            "spice": ("Curcuma", "Paprika", "Piment D'Espelette", "Cumin", "Herbes De Provence",
                      "Cannelle", "Poivre Noir"),
            "biscuit": ("Petit Beurre", "Sablés Bretons", "Palets", "Madeleines",
                        "Cookies Chocolat", "Spéculoos"),
            "ingredient": ("sucre", "sirop de glucose", "cacao", "lait entier", "farine de blé",
                           "arômes naturels", "beurre", "noisettes", "amandes", "sel"),
            "origin": ("France", "Italie", "Belgique", "Espagne", "Inde", "Colombie", "Éthiopie"),
            "coffee_machine": ("Tassimo", "Dolce Gusto", "Nespresso", "Senseo"),
            "s": (
                "Date limite de consommation : {dd}/{mm}/{#2020-2022}.",
                "Ingrédients : {ingredient}, {ingredient}, {ingredient}.",
                "À conserver dans un endroit frais et sec.", "Produit d'origine {origin}.",
                "Poids net : {#50-1000} g.", "Sans gluten, sans colorant artificiel.",
                "Compatible avec les machines {coffee_machine}.", "Intensité {#3-12}.",
                "Idéal pour le petit-déjeuner.", "Rainforest Alliance vérifié.",
            ),
        },
        neighbours=(2220, 2060),
        title_case=0.9,
    ),
    2060: _ClassVocab(
        pools={
            "d": (
                "{lamp}", "Stickers Muraux {deco_theme} Amovibles Art Décor",
                "Décoration De Noël {xmas}", "Cadre Photo {material} {#10-30}x{#15-40} Cm {colour}",
                "{mirror}", "Bougie Parfumée {scent} {#100-400}g",
                "Guirlande Lumineuse {#10-100} Led {colour}", "Horloge Murale {style} {#30-60} Cm",
                "Vase {material} {colour} {#20-50} Cm",
                "{#2-30} Spots Encastrables Orientables Led Gu10 {#3-10}w {light}", "{cushion}",
                "Plante Artificielle {plant} {#30-150} Cm",
                "Happy Halloween {halloween} Stickers Muraux {colour} {#1-99}",
                "Ampoule Led E27 {#5-15}w {light}",
                "Suspension {style} {material} {colour}",
                "Tableau Toile {deco_theme} {#30-120}x{#30-80} Cm", "{pot}", "{rug}",
                "Étagère Murale {material} {colour} {#40-120} Cm",
            ),
            "xmas": ("Sapin Artificiel {#60-240} Cm", "Boules De Noël X{#6-48}",
                     "Père Noël {#20-80} Cm", "Couronne De Porte",
                     "Bonhomme De Neige Christmas Snowman {#20-80} Cm", "Housses De Chaises Noël"),
            "scent": ("Vanille", "Fleur De Coton", "Lavande", "Bois De Santal", "Figue", "Ambre",
                      "Fruits Rouges"),
            "light": ("Blanc Froid 6000k", "Blanc Chaud 3000k", "Blanc Neutre 4000k", "Rgb"),
            "plant": ("Olivier", "Monstera", "Bambou", "Palmier", "Orchidée", "Eucalyptus",
                      "Ficus", "Lavande"),
            "s": (
                "{home_s}", "{home_s}", "{home_s}",
                "Apportez une touche {design_adj} à votre intérieur.",
                "Idéal pour décorer le salon, la chambre ou l'entrée.",
                "Éclairage Led basse consommation.",
                "Puissance : {#3-60} W, équivalent {#25-100} W.",
                "Facile à poser et à retirer sans laisser de traces.",
                "Parfait pour les fêtes de fin d'année.", "Hauteur : {#10-200} cm.",
            ),
        },
        neighbours=(1560, 1920),
        title_case=0.85,
        root="root_seller",
    ),
    2220: _ClassVocab(
        pools={
            "d": (
                "Collier Pour Chien {colour} Taille {size}", "Arbre À Chat {#80-180} Cm {colour}",
                "Matelas Pour Chiens Taille {size} {colour}",
                "Gamelle {material} Pour {pet} {colour}",
                "Cage Pour {pet_small} {#40-120} Cm", "Aquarium {#20-200} L Avec Filtre",
                "Manteau Pour Chien {pattern} Hiver Taille {size}", "Jouet Pour Chat {cat_toy}",
                "Litière {litter} {#5-20} L", "Croquettes {pet_brand} {pet} {#2-15} Kg",
                "Perchoir Pour Oiseaux {material}", "Harnais Pour Chien {colour} Taille {size}",
                "Panier Pour {pet} {#40-100} Cm {colour}", "Laisse Rétractable {#3-8} M",
                "Fontaine À Eau Pour Chat {#1-3} L", "Jouet Pour Chien Peluche {animal} {colour}",
            ),
            "pet": ("Chien", "Chat", "Chiot", "Chaton"),
            "pet_small": ("Lapin", "Hamster", "Cochon D'Inde", "Oiseaux", "Furet"),
            "cat_toy": ("Plumeau", "Souris", "Balle Grelot", "Tunnel", "Griffoir En Carton",
                        "Canne À Pêche"),
            "litter": ("Agglomérante", "Silice", "Végétale", "Bois"),
            "pet_brand": ("Royal Canin", "Purina", "Hill's", "Ultima", "Whiskas", "Pedigree",
                          "Trixie", "Zolux"),
            "s": (
                "Convient aux chiens de {#2-40} kg.", "Matière résistante et facile à nettoyer.",
                "Votre animal va adorer !", "Réglable de {#20-60} à {#30-80} cm.",
                "Base antidérapante.", "Idéal pour les chats d'intérieur.", "{home_s}",
                "Pour le confort de votre compagnon.", "Lavable en machine.",
            ),
        },
        neighbours=(1280, 2060),
        title_case=0.8,
        root="root_seller",
    ),
    2522: _ClassVocab(
        pools={
            "d": (
                "{stat_brand} Cahier {cahier} {#48-192} Pages {#70-90}g {ruling} {colour}",
                "{stat_brand} Lot De {#3-24} Crayons De Couleur {stat_line}",
                "Stylo Bille {stat_brand} {colour} Pointe {point}",
                "{stat_brand} Pince Agrafeuse N°{#10-24} Coloris {colour}",
                "Classeur {#2-4} Anneaux {paper_format} {colour}",
                "Ramette Papier {paper_format} {#70-90}g {#500-2500} Feuilles",
                "Agenda {year_recent} {paper_format} {colour}", "Feutres {stat_brand} X{#6-48}",
                "Mod Podge {modpodge} {#4-16}oz", "Enveloppes {paper_format} X{#50-500} {colour}",
                "Carnet De Notes {#80-200} Pages {colour}",
                "Surligneur {stat_brand} {colour} Lot De {#4-10}",
                "Trousse Scolaire {colour} {character}",
                "Calculatrice {calc} {colour} Mode Examen {year_recent}",
                "Ruban Adhésif {#12-50}mm X {#10-66}m", "Stickers {deco_theme} {#10-200} Pcs",
                "Livre De Coloriage {character} {#20-100} Pages",
            ),
            "stat_brand": ("Conquérant", "Clairefontaine", "Oxford", "Bic", "Stabilo",
                           "Faber-Castell", "Staedtler", "Maped", "Pilot", "Exacompta", "Zenith",
                           "Leitz", "Paper Mate", "Herlitz"),
            "cahier": ("24 X 32 Cm", "17 X 22 Cm", "A4", "A5", "21 X 29,7 Cm"),
            "ruling": ("Seyès", "Petits Carreaux", "Ligné", "Blanc", "Grands Carreaux"),
            "stat_line": ("Polychromos", "Color'Peps", "Noris Club", "Goldfaber", "Tropicolors"),
            "point": ("Moyenne", "Fine", "0,7 Mm", "1 Mm"),
            "paper_format": ("A4", "A5", "A3", "21 X 29,7", "Dl", "C5"),
            "modpodge": ("Dishwasher Safe Gloss", "Matte", "Glitter", "Outdoor", "Fabric"),
            "calc": ("Casio Fx-92 Collège", "Ti-83 Premium Ce", "Casio Graph 35+", "Numworks"),
            "cover_mat": ("polypro", "carton", "polypropylène", "pelliculé"),
            "s": (
                "Papier {#70-120} g/m² de qualité supérieure.", "Couverture en {cover_mat}.",
                "Idéal pour l'école et le bureau.", "Mine de {#2-4} mm résistante à la casse.",
                "Réglure {ruling}.", "Agrafé, {#48-192} pages.", "Encre à séchage rapide.",
                "Convient pour les travaux manuels.", "Fournitures scolaires de qualité.",
                "{#3-48} couleurs vives.",
            ),
        },
        neighbours=(2403, 2060),
        title_case=0.9,
    ),
    2582: _ClassVocab(
        pools={
            "d": (
                "Salon De Jardin {material_g} {#4-8} Places {colour}",
                "Table De Jardin {material_g} {#120-220} Cm", "Chaise Longue {material_g} {colour}",
                "Parasol Déporté {#2-4} M {colour}", "Coussin Pour Banc De Jardin {#100-180} Cm",
                "Tente Pliante {#3-6} X {#3-6} M {colour}", "{pot}",
                "Hamac {material_t} {colour}", "Pergola {material_g} {#3-4} X {#3-6} M",
                "Barbecue {bbq} {#40-80} Cm", "Bain De Soleil {material_g} Réglable",
                "Banc De Jardin {material_g} {#100-180} Cm",
                "Housse De Protection Pour Salon De Jardin {#150-300} Cm",
                "Abri De Jardin {material_g} {#2-10} M²", "{cushion}",
                "Bâche De Protection {#2-6} X {#2-8} M {colour}",
                "Douche Solaire De Jardin {#20-40} L",
            ),
            "material_g": ("Résine Tressée", "Aluminium", "Teck", "Acacia", "Acier", "Bois",
                           "Textilène", "Pvc", "Polyrotin"),
            "bbq": ("Charbon", "Gaz", "Électrique", "Kamado", "Plancha"),
            "s": (
                "{garden_s}", "{garden_s}", "{garden_s}", "{home_s}",
                "Structure en {material_g} traité anti-rouille.", "Coussins déhoussables inclus.",
                "Se replie facilement pour l'hiver.", "Toile anti-UV {#150-300} g/m².",
                "Ensemble composé d'une table et de {#2-8} fauteuils.", "Pieds réglables.",
            ),
        },
        neighbours=(1560, 2585, 2583),
        title_case=0.85,
    ),
    2583: _ClassVocab(
        pools={
            "d": (
                "Pompe à chaleur piscine {#5-20} kW {pool_brand}",
                "Bâche {bache} pour piscine {#3-10} x {#3-10} m",
                "Robot nettoyeur de piscine {pool_brand} {robot_model}",
                "Kit de désinfection pour piscines {pool_kind} {#10000-99999}",
                "Testeur électronique de pH et chlore {pool_brand} {ref}",
                "Filtre à sable {#4-15} m³/h {pool_brand}",
                "Spa gonflable {pool_brand} {#2-6} places {colour}",
                "Piscine hors sol {material_p} {#3-8} x {#2-5} m", "Chlore {chlore} {#1-10} kg",
                "Échelle {pool_brand} pour piscine {material_p} inox {#2-5} marches {#90-150} cm",
                "{inflatable_pool}",
                "Surpresseur piscine {pool_brand} {#1-3} CV",
                "Liner {#75-85}/100ème {liner} pour piscine {#3-8} m",
                "Skimmer {pool_brand} pour piscine {material_p}",
                "Enrouleur de bâche {pool_brand} {bache} {#3-7},{#0-9} m",
                "Douche solaire {pool_brand} {#20-40} L {colour}",
            ),
            "pool_brand": ("Intex", "Bestway", "Zodiac", "Dolphin", "Hayward", "AstralPool",
                           "Gre", "Poolex", "Kokido", "Ubbink", "Water Tech", "OOGARDEN",
                           "Procopi", "Maytronics"),
            "robot_model": ("{L}{#100-900}", "Vortex Pro", "Tornax", "Dolphin E{#10-40}",
                            "Aquavac", "Spot Pro"),
            "bache": ("à bulles", "d'hiver", "solaire", "de sécurité", "4 saisons", "opaque"),
            "material_p": ("acier", "bois", "résine", "béton", "composite", "tubulaire"),
            "chlore": ("Galets 250g", "Lent", "Choc", "Multi-actions", "Pastilles 20g"),
            "liner": ("Bleu", "Sable", "Gris", "Frise Mosaïque"),
            "s": (
                "{garden_s}", "{garden_s}",
                "Pompe à chaleur silencieuse pour piscine jusqu'à {#20-90} m³.",
                "Compatible avec toutes les piscines hors sol.",
                "Traitement de l'eau simple et efficace.",
                "Robot électrique avec nettoyage du fond et des parois.",
                "Débit : {#2-15} m³/h.", "Bâche isotherme qui limite l'évaporation.",
                "Idéal pour maintenir une eau claire tout l'été.",
                "Garantie {#1-3} ans {pool_brand}.", "Dimensions du bassin : {#3-8} x {#2-5} m.",
            ),
        },
        neighbours=(2582, 1302),
        title_case=0.1,
    ),
    2585: _ClassVocab(
        pools={
            "d": (
                "Taille-haies {power} {tool_brand} {#400-800} W",
                "Tuyau d'arrosage {#15-50} m {#12-25} mm {tool_brand}",
                "Tondeuse {power} {tool_brand} {#32-53} cm",
                "Débroussailleuse {power} {#25-52} cm³",
                "Sécateur {tool_brand} {#18-25} cm", "{pot}",
                "Souffleur de feuilles {power} {tool_brand}",
                "Programmateur d'arrosage {tool_brand}",
                "Pince à sertir multifonction {ref}", "Scie {saw} {#200-600} mm",
                "Nettoyeur haute pression {tool_brand} {#100-180} bars",
                "Tuyau à goutteur incorporé {#12-20} mm x {#10-50} m",
                "Composteur {#300-800} L {colour}", "Brouette {#80-120} L {material}",
                "Râteau {material} {#30-60} cm", "Graines {seeds} Bio {#1-100}g",
                "Arrosoir {material} {#5-12} L {colour}",
                "Pompe D'Arrosage {tool_brand} {#400-1500} W",
                "Pompe Vide-Cave {tool_brand} {#250-1000} W",
                "Abri De Jardin {material} {#2-10} M²",
            ),
            "power": ("sans fil", "électrique", "thermique", "batterie 18V"),
            "tool_brand": ("Gardena", "Bosch", "Black & Decker", "Ryobi", "Makita", "Fiskars",
                           "Einhell", "Greenworks", "Stihl", "Hozelock", "Worx", "Wolf Garten"),
            "saw": ("à bûches", "égoïne", "d'élagage", "sabre", "circulaire"),
            "seeds": ("Tomates", "Gazon", "Basilic", "Radis", "Fleurs Sauvages", "Courgettes"),
            "s": (
                "{garden_s}", "{garden_s}", "{garden_s}", "Livré sans batterie ni chargeur.",
                "Moteur de {#400-2000} W.", "Largeur de coupe : {#30-60} cm.",
                "Poignée ergonomique antidérapante.", "Idéal pour l'entretien de votre jardin.",
                "Raccords rapides compatibles {tool_brand}.", "Lame en acier trempé.",
            ),
        },
        neighbours=(2582, 2583),
        title_case=0.3,
    ),
}  # fmt: skip

# HTML the way the real descriptions carry it: tags, and accents as named entities.
_ENTITIES: Final[dict[int, str]] = {
    ord(char): entity
    for char, entity in {
        "&": "&amp;", "'": "&#39;", "é": "&eacute;", "è": "&egrave;", "ê": "&ecirc;",
        "ë": "&euml;", "à": "&agrave;", "â": "&acirc;", "ç": "&ccedil;", "ô": "&ocirc;",
        "î": "&icirc;", "ï": "&iuml;", "ù": "&ugrave;", "û": "&ucirc;", "É": "&Eacute;",
        "À": "&Agrave;", "œ": "&oelig;", "°": "&deg;", "²": "&sup2;", "³": "&sup3;",
        "+": "&#43;",
    }.items()
}  # fmt: skip
_BREAKS: Final = ("<br />", "<br>", "<br/>", " <br /><br />", "<br> ")
_SPAN_CLASSES: Final = ("vga_style2", "x", "desc", "fiche-produit", "MsoNormal")

# ---------------------------------------------------------------------------------------------
# Template compilation and expansion.
# ---------------------------------------------------------------------------------------------

_SLOT: Final = re.compile(r"\{([^{}]+)\}")
_Piece: TypeAlias = "str | _Num | _Pool"


@dataclass(frozen=True, slots=True)
class _Num:
    low: int
    span: int


@dataclass(eq=False, slots=True)
class _Pool:
    entries: list[tuple[_Piece, ...]]


@dataclass(frozen=True, slots=True)
class _Grammar:
    designation: _Pool
    sentence: _Pool
    generic_sentence: _Pool
    title_case: float
    neighbours: tuple[int, ...]


class _Compiler:
    """Turns one class's templates into token trees, each pool compiled once."""

    def __init__(self, local: Mapping[str, tuple[str, ...]]) -> None:
        self._local = local
        self._pools: dict[str, _Pool] = {}

    def pool(self, name: str) -> _Pool:
        if name in self._pools:
            return self._pools[name]
        source = self._local.get(name, _SHARED_POOLS.get(name))
        if not source:
            raise KeyError(f"synthetic vocabulary has no pool {name!r}")
        compiled = _Pool([])
        self._pools[name] = compiled  # before parsing, so a self-reference cannot recurse here
        compiled.entries.extend(self._parse(template) for template in source)
        return compiled

    def _parse(self, template: str) -> tuple[_Piece, ...]:
        tokens: list[_Piece] = []
        end = 0
        for match in _SLOT.finditer(template):
            if match.start() > end:
                tokens.append(template[end : match.start()])
            name = match.group(1)
            if name.startswith("#"):
                low, high = (int(part) for part in name[1:].split("-"))
                tokens.append(_Num(low, high - low + 1))
            else:
                tokens.append(self.pool(name))
            end = match.end()
        if end < len(template):
            tokens.append(template[end:])
        return tuple(tokens)


@functools.cache
def _grammars() -> dict[int, _Grammar]:
    missing = sorted(set(CATEGORY_NAMES) - set(_VOCAB))
    if missing:
        raise RuntimeError(f"synthetic vocabulary lacks classes {missing}")
    grammars = {}
    for code, vocab in _VOCAB.items():
        compiler = _Compiler(vocab.pools)
        grammars[code] = _Grammar(
            designation=compiler.pool(vocab.root),
            sentence=compiler.pool("s"),
            generic_sentence=compiler.pool("generic_s"),
            title_case=vocab.title_case,
            neighbours=vocab.neighbours,
        )
    return grammars


def _expand(pool: _Pool, draws: memoryview, base: int, pos: int, out: list[str]) -> int:
    """Appends one random entry of `pool`, fully expanded, to `out`; returns the next draw."""
    entries = pool.entries
    tokens = entries[(draws[base + (pos & _DRAW_MASK)] * len(entries)) >> 16]
    pos += 1
    for token in tokens:
        if isinstance(token, str):
            out.append(token)
        elif isinstance(token, _Num):
            value = draws[base + (pos & _DRAW_MASK)] << 16 | draws[base + ((pos + 1) & _DRAW_MASK)]
            out.append(str(token.low + ((value * token.span) >> 32)))
            pos += 2
        else:
            pos = _expand(token, draws, base, pos, out)
    return pos


def _title(text: str) -> str:
    # Capitalise each word's first letter only: str.title() would also turn "l'art" into "L'Art".
    return " ".join(word[:1].upper() + word[1:] for word in text.split(" "))


def _render_html(sentences: list[str], style: float, escape: float) -> str:
    if style < 0.12:
        plain = " ".join(sentences)
        escaped = plain.translate(_ENTITIES)
        if escaped != plain:  # entities alone only count as HTML when there is something to escape
            return escaped
        style = 0.5
    if style < 0.35:
        text = _BREAKS[int(escape * len(_BREAKS))].join(sentences)
    elif style < 0.5:
        text = "".join(f"<p>{s}</p>" for s in sentences)
    elif style < 0.65:
        text = f"<b>{sentences[0]}</b><br />" + "<br />".join(sentences[1:])
    elif style < 0.8:
        items = "".join(f"<li>{s}</li>" for s in sentences[1:] or sentences)
        text = (sentences[0] if len(sentences) > 1 else "") + f"<ul>{items}</ul>"
    else:
        css = _SPAN_CLASSES[int(escape * len(_SPAN_CLASSES))]
        text = f'<span class="{css}">' + " ".join(sentences) + "</span>"
    return text.translate(_ENTITIES) if escape < 0.55 else text


def _mojibake(text: str) -> str:
    # UTF-8 bytes read as cp1252; bytes cp1252 leaves undefined become U+FFFD, so it stays UTF-8.
    return text.encode("utf-8").decode("cp1252", errors="replace")


# ---------------------------------------------------------------------------------------------
# Row allocation and defect masks.
# ---------------------------------------------------------------------------------------------


def _allocate(n_rows: int) -> dict[int, int]:
    """Rows per class: proportional to REAL_CLASS_COUNTS (largest remainder), at least 2 each."""
    codes = sorted(REAL_CLASS_COUNTS)
    total = sum(REAL_CLASS_COUNTS.values())
    counts = {c: n_rows * REAL_CLASS_COUNTS[c] // total for c in codes}
    remainders = {c: n_rows * REAL_CLASS_COUNTS[c] % total for c in codes}
    by_remainder = sorted(codes, key=lambda c: (-remainders[c], c))
    for code in by_remainder[: n_rows - sum(counts.values())]:
        counts[code] += 1
    for code in codes:
        while counts[code] < MIN_ROWS_PER_CLASS:
            donor = max(codes, key=lambda c: (counts[c], -c))
            counts[donor] -= 1
            counts[code] += 1
    return counts


def _exact_mask(
    rng: np.random.Generator, eligible: npt.NDArray[np.bool_], rate: float
) -> npt.NDArray[np.bool_]:
    """A mask over `eligible` rows with exactly round(rate * eligible) of them set."""
    candidates = np.flatnonzero(eligible)
    k = round(rate * len(candidates))
    mask = np.zeros(len(eligible), dtype=bool)
    mask[rng.choice(candidates, size=k, replace=False)] = True
    return mask


def _inject_duplicates(
    rng: np.random.Generator,
    labels: npt.NDArray[np.int64],
    designations: list[str],
    descriptions: list[str | None],
    protected: npt.NDArray[np.bool_],
) -> int:
    """Copies text between rows of one class until round(DUPLICATE_RATE * n) rows repeat another.

    Templates already collide now and then; those collisions count towards the rate. Only rows
    whose text is unique (and not `protected`) are overwritten, so each copy adds exactly one
    duplicate. Returns the number of rows copied."""
    n_rows = len(labels)
    keys = list(zip(designations, descriptions, strict=True))
    seen = Counter(keys)
    wanted = round(DUPLICATE_RATE * n_rows) - (n_rows - len(seen))
    unique = np.fromiter((seen[key] == 1 for key in keys), dtype=bool, count=n_rows) & ~protected
    candidates = np.flatnonzero(unique)
    if wanted <= 0 or len(candidates) == 0:
        return 0
    is_target = np.zeros(n_rows, dtype=bool)
    is_target[rng.choice(candidates, size=min(wanted, len(candidates)), replace=False)] = True
    copied = 0
    for code in np.unique(labels[is_target]):
        rows = np.flatnonzero(labels == code)
        targets = rows[is_target[rows]]
        originals = rows[~is_target[rows]]
        if len(originals) == 0:  # a tiny class drawn entirely: keep one original
            originals, targets = targets[:1], targets[1:]
        picks = originals[rng.integers(0, len(originals), size=len(targets))]
        for target, source in zip(targets.tolist(), picks.tolist(), strict=True):
            designations[target] = designations[source]
            descriptions[target] = descriptions[source]
        copied += len(targets)
    return copied


# ---------------------------------------------------------------------------------------------
# Public API.
# ---------------------------------------------------------------------------------------------


def generate_listings(n_rows: int, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """X frame and Y frame of n_rows synthetic listings."""
    if n_rows < MIN_ROWS:
        raise ValueError(
            f"n_rows must be at least {MIN_ROWS} ({MIN_ROWS_PER_CLASS} rows for each of the "
            f"{len(REAL_CLASS_COUNTS)} classes), got {n_rows}"
        )
    grammars = _grammars()
    rng = np.random.default_rng(seed)
    counts = _allocate(n_rows)
    labels = np.repeat(np.fromiter(counts, dtype=np.int64), list(counts.values()))

    everyone = np.ones(n_rows, dtype=bool)
    missing = _exact_mask(rng, everyone, MISSING_DESCRIPTION_RATE)
    html = _exact_mask(rng, ~missing, HTML_RATE)
    repeat = _exact_mask(rng, ~missing, DESIGNATION_REPEAT_RATE)
    borrowed = _exact_mask(rng, everyone, NEIGHBOUR_DESIGNATION_RATE)
    title_rates = np.array([grammars[int(code)].title_case for code in labels])
    title = rng.random(n_rows) < title_rates
    # Each row reads its own stream of 16-bit draws, so rows do not depend on one another.
    draws = memoryview(rng.bytes(2 * n_rows * _DRAWS_PER_ROW)).cast("H")

    designations: list[str] = [""] * n_rows
    descriptions: list[str | None] = [None] * n_rows
    for i in range(n_rows):
        grammar = grammars[int(labels[i])]
        base = i * _DRAWS_PER_ROW
        pos = 0
        source = grammar
        if borrowed[i]:
            neighbours = grammar.neighbours
            source = grammars[neighbours[(draws[base] * len(neighbours)) >> 16]]
            pos = 1
        out: list[str] = []
        pos = _expand(source.designation, draws, base, pos, out)
        designation = " ".join("".join(out).split())
        if title[i]:
            designation = _title(designation)
        designations[i] = designation
        if missing[i]:
            continue
        n_sentences = 1 + ((draws[base + (pos & _DRAW_MASK)] * 4) >> 16)
        pos += 1
        sentences = [designation] if repeat[i] else []
        for _ in range(n_sentences):
            kind = draws[base + (pos & _DRAW_MASK)] / 65536
            if kind < GENERIC_SENTENCE_RATE:
                pool = grammar.generic_sentence
            elif kind < GENERIC_SENTENCE_RATE + NEIGHBOUR_SENTENCE_RATE:
                pick = draws[base + ((pos + 1) & _DRAW_MASK)] * len(grammar.neighbours) >> 16
                pool = grammars[grammar.neighbours[pick]].sentence
            else:
                pool = grammar.sentence
            out = []
            pos = _expand(pool, draws, base, pos + 2, out)
            sentence = "".join(out)
            if sentence not in sentences:  # small pools repeat themselves; listings do not
                sentences.append(sentence)
        if html[i]:
            style = draws[base + (pos & _DRAW_MASK)] / 65536
            escape = draws[base + ((pos + 1) & _DRAW_MASK)] / 65536
            descriptions[i] = _render_html(sentences, style, escape)
        else:
            descriptions[i] = " ".join(sentences)

    has_accent = np.fromiter(
        (
            not (d.isascii() and (t is None or t.isascii()))
            for d, t in zip(designations, descriptions, strict=True)
        ),
        dtype=bool,
        count=n_rows,
    )
    n_mojibake = min(round(MOJIBAKE_RATE * n_rows), int(has_accent.sum()))
    garbled = rng.choice(np.flatnonzero(has_accent), size=n_mojibake, replace=False)
    for i in garbled.tolist():
        designations[i] = _mojibake(designations[i])
        text = descriptions[i]
        descriptions[i] = None if text is None else _mojibake(text)
    is_garbled = np.zeros(n_rows, dtype=bool)
    is_garbled[garbled] = True
    _inject_duplicates(rng, labels, designations, descriptions, protected=is_garbled)

    productids = rng.choice(_PRODUCTID_SPAN, size=n_rows, replace=False) + _PRODUCTID_LOW
    imageids = rng.choice(_IMAGEID_SPAN, size=n_rows, replace=False) + _IMAGEID_LOW
    order = rng.permutation(n_rows)

    # A missing description is NaN, as pandas reads an empty CSV field.
    bodies = [np.nan if text is None else text for text in descriptions]
    x = pd.DataFrame(
        {
            "designation": np.array(designations, dtype=object)[order],
            "description": np.array(bodies, dtype=object)[order],
            "productid": productids.astype(np.int64)[order],
            "imageid": imageids.astype(np.int64)[order],
        },
        columns=list(X_COLUMNS),
    )
    y = pd.DataFrame({Y_COLUMN: labels[order]})
    logger.debug("generated %d synthetic listings (seed %d)", n_rows, seed)
    return x, y


def write_challenge_files(out_dir: Path, n_rows: int, seed: int = 42) -> tuple[Path, Path]:
    """Writes out_dir/X_train_update.csv and out_dir/Y_train_CVw08PX.csv.

    Returns (x_path, y_path). Each file is written atomically; out_dir is created if missing."""
    x, y = generate_listings(n_rows, seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x_path = out_dir / X_FILENAME
    y_path = out_dir / Y_FILENAME
    x_bytes = x.to_csv(lineterminator=_LINE_TERMINATOR).encode("utf-8")
    y_bytes = y.to_csv(lineterminator=_LINE_TERMINATOR).encode("utf-8")
    _write_atomic(x_path, x_bytes)
    _write_atomic(y_path, y_bytes)
    # The importer marks a dataset synthetic when these hashes match the files it reads.
    provenance = {
        "generator": __name__,
        "synthetic": True,
        "rows": n_rows,
        "seed": seed,
        "x_sha256": hashlib.sha256(x_bytes).hexdigest(),
        "y_sha256": hashlib.sha256(y_bytes).hexdigest(),
    }
    _write_atomic(out_dir / PROVENANCE_FILE, (json.dumps(provenance, indent=2) + "\n").encode())
    logger.info("wrote %d synthetic listings to %s and %s", n_rows, x_path, y_path)
    return x_path, y_path


def _write_atomic(path: Path, data: bytes) -> None:
    """Writes through a temp file in the same folder, so a crash never leaves half a file."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(0o644)  # mkstemp makes it owner-only; the files are data, not secrets
        tmp.replace(path)  # os.replace: atomic within one file system
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
