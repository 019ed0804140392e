"""English normalizer: each class of written number as an exact input -> spoken-form table."""

from __future__ import annotations

import pytest

from qwentts_cli.text.normalize import normalize


def en(text: str) -> str:
    return normalize(text, "en")


NUMBERS = [
    ("5", "five"),
    ("-5", "minus five"),
    ("1,000,000", "one million"),
    ("1\u2009000", "one thousand"),
    ("101", "one hundred one"),
    ("3.5", "three point five"),
    ("0.05", "zero point zero five"),
    ("1/2", "one half"),
    ("3/4", "three quarters"),
    ("2/3", "two thirds"),
    ("24/7", "twenty-four/seven"),
    ("50%", "fifty percent"),
    ("3.5%", "three point five percent"),
    ("5-10", "five to ten"),
    ("5–10 km", "five to ten kilometers"),
    ("I have 3 cats.", "I have three cats."),
]

ORDINALS_YEARS = [
    ("1st", "first"),
    ("22nd", "twenty-second"),
    ("3rd", "third"),
    ("101st", "one hundred first"),
    ("in 1999", "in nineteen ninety-nine"),
    ("2024", "twenty twenty-four"),
    ("2000", "two thousand"),
    ("2005", "two thousand five"),
    ("in 1905", "in nineteen oh five"),
    ("since 2010,", "since twenty ten,"),
    ("2024 apples", "two thousand twenty-four apples"),
    ("the 1990s", "the nineteen nineties"),
    ("1939-1945", "nineteen thirty-nine to nineteen forty-five"),
]

ROMAN = [
    ("Chapter IV", "Chapter four"),
    ("World War II", "World War two"),
    ("Henry VIII", "Henry the eighth"),
    ("Louis XIV", "Louis the fourteenth"),
    ("Elizabeth I", "Elizabeth the first"),
    ("I think I can.", "I think I can."),
    ("Model X and part V", "Model X and part five"),
    ("Washington DC", "Washington DC"),
    ("V for Vendetta", "V for Vendetta"),
]

MONEY = [
    ("$5.50", "five dollars and fifty cents"),
    ("$5", "five dollars"),
    ("$1", "one dollar"),
    ("$0.99", "ninety-nine cents"),
    ("€20", "twenty euros"),
    ("£1", "one pound"),
    ("100 USD", "one hundred dollars"),
    ("50 RUB", "fifty rubles"),
    ("10 EUR", "ten euros"),
    ("$1 million", "one million dollars"),
    ("$2.5 million", "two point five million dollars"),
    ("$3bn", "three billion dollars"),
]

DATES_TIMES = [
    ("12.05.2024", "the twelfth of May, twenty twenty-four"),  # day first, as written
    ("05/12/2024", "May twelfth, twenty twenty-four"),
    ("2024-05-12", "May twelfth, twenty twenty-four"),
    ("May 5, 2024", "May fifth, twenty twenty-four"),
    ("on May 5", "on May fifth"),
    ("14 March 2019", "the fourteenth of March, twenty nineteen"),
    ("Jan. 3rd", "January third"),
    ("The 2nd of May", "The second of May"),
    ("10:30 am", "ten thirty a m"),
    ("10:30 p.m.", "ten thirty p m"),
    ("7:05", "seven oh five"),
    ("15:00", "fifteen hundred"),
    ("15:30", "fifteen thirty"),
    ("12:00", "twelve o'clock"),
    ("10:00 AM", "ten a m"),
    ("7 pm", "seven p m"),
]

UNITS = [
    ("5 km", "five kilometers"),
    ("1 km", "one kilometer"),
    ("100 kg", "one hundred kilograms"),
    ("60 mph", "sixty miles per hour"),
    ("5 m²", "five square meters"),
    ("100 MB", "one hundred megabytes"),
    ("3 GHz", "three gigahertz"),
    ("20 °C", "twenty degrees Celsius"),
    ("-5°C", "minus five degrees Celsius"),
    ("6 ft", "six feet"),
    ("1.5 l", "one point five liters"),
    ("5 m away", "five meters away"),
]

PHONES_ADDRESSES = [
    ("+1 555-010-9999", "plus one, five five five, zero one zero, nine nine nine nine"),
    ("(555) 123-4567", "five five five, one two three, four five six seven"),
    ("Call 555-1234", "Call five five five, one two three four"),
    ("info@example.com", "info at example dot com"),
    ("https://qwen.ai/tts", "h t t p s colon slash slash qwen dot ai slash tts"),
    ("Visit www.example.org.", "Visit w w w dot example dot org."),
]

ABBREVIATIONS = [
    ("Dr. Smith", "Doctor Smith"),
    ("Mr. Brown", "Mister Brown"),
    ("Mrs. Brown", "Missus Brown"),
    ("St. Louis", "Saint Louis"),
    ("Baker St. is closed", "Baker Street is closed"),
    ("apples, pears, etc.", "apples, pears, et cetera."),
    ("fruit, e.g. apples", "fruit, for example apples"),
    ("one, i.e. this", "one, that is this"),
    ("cats vs. dogs", "cats versus dogs"),
    ("No. 5", "number five"),
    ("No, thanks.", "No, thanks."),
    ("in Q3 2023", "in Q three twenty twenty-three"),
    ("221B Baker St.", "two hundred twenty-one B Baker Street."),
    ("COVID-19 and mp3", "COVID-nineteen and mp three"),
]


# Round two (issue 15): classes a careful reader says differently from the digits' plain reading.
ROUND_TWO = [
    ("Call 1-800-FLOWERS now.", "Call one, eight hundred, flowers now."),  # a number spelled as a word
    ("800-GO-FEDEX", "eight hundred, go fedex"),
    ("1-888-MY-BANK", "one, eight eight eight, my bank"),
    ("the card ending 4321", "the card ending four three two one"),
    ("Run /usr/local/bin/qwentts now.", "Run slash usr slash local slash bin slash qwentts now."),
    ("See ~/docs/notes.txt, then", "See tilde slash docs slash notes dot txt, then"),
    ("Call 555-123-4567 today.", "Call five five five, one two three, four five six seven today."),
    ("1-800-555-0199", "one, eight zero zero, five five five, zero one nine nine"),
    ("555.123.4567", "five five five, one two three, four five six seven"),
    ("Ping 192.168.0.10 now", "Ping one nine two dot one six eight dot zero dot one zero now"),
    ("Open 9am-5pm daily.", "Open nine a m to five p m daily."),
    ("from 9:30 a.m. – 5:05 p.m.", "from nine thirty a m to five oh five p m"),
    ("The '90s and the mid-80s", "The nineties and the mid-eighties"),
    ("in the 70s", "in the seventies"),
    ("It took 90s.", "It took ninety seconds."),  # bare: seconds, as before
    ("Q3 2024 results", "Q three twenty twenty-four results"),
    ("Add 2 1/2 cups", "Add two and a half cups"),
    ("1 3/4 miles", "one and three quarters miles"),
    ("2 5/8 inch", "two and five eighths inch"),
    # money
    ("Only $.99 now", "Only ninety-nine cents now"),
    ("a £3.5m deal", "a three point five million pounds deal"),
    ("¥30b", "thirty billion yen"),
    ("₩5,000", "five thousand won"),
    ("$15/mo or $40/hr", "fifteen dollars per month or forty dollars per hour"),
    ("€9.99/month", "nine euros and ninety-nine cents per month"),
    ("Pay $5-$10 each", "Pay five dollars to ten dollars each"),
    ("It was $3.00", "It was three dollars"),
    # measures, glued and in capitals; squares; per-units; multiplication
    ("Weighs 12KG", "Weighs twelve kilograms"),
    ("A 5GB file at 3mbps", "A five gigabytes file at three megabits per second"),
    ("20 m2", "twenty square meters"),
    ("12/kg", "twelve per kilogram"),
    ("A 2x4 board, 4.5x zoom", "A two by four board, four point five times zoom"),
    # math and symbols
    ("3+4=7", "three plus four equals seven"),
    ("5*6", "five times six"),
    ("We're #1", "We're number one"),
    ("Ping @user", "Ping at user"),
    ("Tom & Jerry", "Tom and Jerry"),
    # addresses
    ("Austin, TX 78701", "Austin, Texas seven eight seven zero one"),
    ("Austin, TX", "Austin, Texas"),
    ("Portland, OR 97201", "Portland, Oregon nine seven two zero one"),
    # dates in other spellings, eras
    ("on jan 3", "on January third"),
    ("AUG 14 2021", "August fourteenth, twenty twenty-one"),
    ("on 2019/06/03", "on June third, twenty nineteen"),
    ("on 06/03/19", "on June third, nineteen"),  # a two-digit year as written
    ("In 44 BC and 800 A.D.", "In forty-four B C and eight hundred A D"),
    ("1/8th", "one eighth"),
    # codes and serials digit by digit; decade ranges; quarters written 3Q24
    ("Card ending in 4242", "Card ending in four two four two"),
    ("Order #4521 shipped", "Order number four five two one shipped"),
    ("ZIP 90210", "ZIP nine zero two one zero"),
    ("Order 12345678 shipped", "Order one two three four five six seven eight shipped"),
    ("ref 20240601123", "ref two zero two four zero six zero one one two three"),
    ("ab1234 and A4 and mp3", "a b one two three four and A four and mp three"),
    ("1960s-70s", "nineteen sixties to seventies"),
    ("3Q24", "the third quarter of twenty-four"),
    ("He scored 1234 points", "He scored one thousand two hundred thirty-four points"),  # a count stays a number
    # durations, time zones, per-units, streets
    ("Lap 1:02:03", "Lap one hour two minutes three seconds"),
    ("Call at 7:00 pm EST.", "Call at seven p m E S T."),
    ("At 14:30 UTC", "At fourteen thirty U T C"),
    ("5 cc/s", "five cc per second"),
    ("density 3 kg/m3", "density three kilograms per cubic meter"),
    ("N Main St", "North Main Street"),
    ("100 W 5th Ave", "one hundred West fifth Avenue"),
    ("Elm St, then Oak Ave.", "Elm Street, then Oak Avenue."),
    ("on Mulholland Dr", "on Mulholland Drive"),
    ("x - 1", "x minus one"),
    ("Solve x + 2 = 5 now.", "Solve x plus two equals five now."),
    ("pages 5 - 10", "pages five to ten"),  # numbers alone: a range, as before
]

# Round three (issue 15): classes measured against a public proxy suite, written here anew.
ROUND_THREE = [
    # dates: day first read day first, lower-case months, dashes, two-digit years as written
    ("on 9 october 2021", "on the ninth of October, twenty twenty-one"),
    ("4th nov", "the fourth of November"),
    ("due 21 may 2023", "due the twenty-first of May, twenty twenty-three"),
    ("21.04.2022", "the twenty-first of April, twenty twenty-two"),
    ("04.21.2022", "April twenty-first, twenty twenty-two"),  # can only be month first
    ("28/02/2021", "the twenty-eighth of February, twenty twenty-one"),
    ("03-09-2024", "March ninth, twenty twenty-four"),
    ("Oct-9-2021 and Dec-1", "October ninth, twenty twenty-one and December first"),
    ("2021-4-9", "April ninth, twenty twenty-one"),
    ("on 12/25/99", "on December twenty-fifth, ninety-nine"),
    ("since 3/4/07", "since March fourth, oh seven"),
    ("in 410 A.D", "in four ten A D"),
    ("up in 4Q23", "up in the fourth quarter of twenty-three"),
    ("1950-65", "nineteen fifty to sixty-five"),
    ("1920s-1930s", "nineteen twenties to nineteen thirties"),
    # money
    ("$7.5", "seven dollars and fifty cents"),
    ("$4.250", "four dollars and twenty-five cents"),
    ("$0.300", "thirty cents"),
    ("$.125", "point one two five dollars"),
    ("$25000000", "twenty-five million dollars"),
    ("US$3 billion", "three billion U S dollars"),
    ("$0.7/hr", "seventy cents per hour"),
    # numbers: leading zeros, bare decimals, large grouped numbers, units with scales and ranges
    ("room 007", "room zero zero seven"),
    ("code 0042", "code zero zero four two"),
    ("about .25 of it", "about point two five of it"),
    ("1,000,000,000,000,000,000", "one quintillion"),
    ("300 million km", "three hundred million kilometers"),
    ("5%-15%", "five percent to fifteen percent"),
    ("12 x 4 m", "twelve by four meters"),
    ("3x5 cm", "three by five centimeters"),
    # fractions
    ("17/4", "seventeen quarters"),
    ("2 7/4", "two and seven quarters"),
    ("3/8TH", "three eighths"),
    ("3 1/2 ft", "three and a half feet"),
    # symbols and word/word
    ("read/write", "read slash write"),
    ("50 % or more %", "fifty percent or more percent"),
    ("price$", "price dollar"),
    ("#python", "hash python"),
    ("12@ each", "twelve at each"),
    ("see § 4", "see section four"),
    ("In C# code", "In C sharp code"),
    ("14/ of them", "fourteen slash of them"),
    ("a=b+2", "a equals b plus two"),
    # phones and IDs
    ("SSN 123-45-6789", "SSN one two three, four five, six seven eight nine"),
    ("ID 12-3456-789-0", "ID one two, three four five six, seven eight nine, zero"),
    ("1-800-MY-2-CENTS", "one, eight hundred, my two cents"),
    ("steps 1-2-3", "steps one, two, three"),
    # addresses
    ("at 742 Evergreen Ter", "at seven hundred forty-two Evergreen Ter"),  # not a street type: a number
    ("at 742 Evergreen Ave", "at seven forty-two Evergreen Avenue"),
    ("Lived at 2301 Oak St. Then he moved.", "Lived at twenty-three oh one Oak Street. Then he moved."),
    ("15 Old Mill rd, Ohio", "fifteen Old Mill Road, Ohio"),
    ("Miami, FL, 33101", "Miami, Florida, three three one zero one"),
    # times, zones, plans, e-mail, URLs
    ("at 8.30 a.m.", "at eight thirty a m"),
    ("at 4:15 p.m. p.s.t", "at four fifteen p m P S T"),
    ("a 403(b) plan", "a four oh three b plan"),
    ("write to j.o'neil&co@mail.com/orders", "write to j dot o neil ampersand co at mail dot com slash orders"),
    ("open file:///tmp/a1.txt", "open file colon slash slash slash tmp slash a one dot txt"),
    ("go to x.io/12", "go to x dot io slash one two"),
    ("tags <b>bold</b> and <br/>", "tags <b>bold</b> and <br/>"),
]


@pytest.mark.parametrize(
    "text,expected",
    NUMBERS + ORDINALS_YEARS + ROMAN + MONEY + DATES_TIMES + UNITS + PHONES_ADDRESSES + ABBREVIATIONS + ROUND_TWO
    + ROUND_THREE,
)
def test_en(text, expected):
    assert en(text) == expected


PROSE_EN = """It was the best of times, it was the worst of times; it was the age of wisdom!

"Well," said I, "what do you make of it?" He shrugged — and then, quietly, walked away…
	Tabs,  double  spaces, and a question?   Yes: I think so. I am here; you are there.
"""


def test_plain_prose_unchanged():
    assert en(PROSE_EN) == PROSE_EN


def test_round_two_rules_leave_words_alone():
    # An octet past 255 is no address; words that look like the new rules' tokens stay words.
    assert "dot" not in en("999.1.1.1")
    for text in ("I am here at last.", "Q and A", "Pm me later.", "She said 'so' twice.", "Mid-air, the end.",
                 "AT&T and R&D", "He needs an IV line.", "X marks the spot.", "The St Bernard slept.",
                 "you may go", "They march in step.", "there was a - how to say - problem",
                 "Fine, OK.", "John Smith, MD", "Ann Lee, PA", "Yes, OR no?",
                 "and/or", "km/h", "I/O and C/C++", "the /r/ sound", "run ./build.sh"):
        assert en(text) == text, text
    assert en("you may 5 times") == "you may five times" and en("march 5 miles") == "march five miles"
    assert en("the year ending 2024") == "the year ending twenty twenty-four"  # a year, not a card


def test_round_three_rules_leave_words_alone():
    # Words and signs the round-three rules must not take: lower-case months without a year,
    # silent slashes, signs inside words, tags, phonemes, numbers that are no street address.
    for text in ("he/she and his/her", "AT&T, R&D and C++", "<br/> and </b>", "the /r/ sound", "x-y",
                 "I may go", "Fine, OK."):
        assert en(text) == text, text
    assert en("you may 5 days") == "you may five days"  # no year: "may" stays a verb
    assert en("on 5 may 2020") == "on the fifth of May, twenty twenty"  # with a year it is a date
    assert "October" not in en("version 3.10.12")  # a version, not a dotted date with a short year
    assert en("I bought 5 Main brand tools") == "I bought five Main brand tools"  # no street type
    assert en("St. Louis is 250 miles") == "Saint Louis is two hundred fifty miles"
    assert en("Mount St. Helens") == "Mount Saint Helens"  # no house number: Saint
    assert en("12.5 pm") == "twelve point five pm"  # two digits after the dot make a time, not one
    assert en("## Install\nRun it") == "## Install\nRun it"  # a Markdown heading's marks are not read
    assert en("see docs/notes.md") == "see docs/notes.md"  # a relative file name stays
    assert en("into out/ now") == "into out slash now" and en("in logs/app/ today") == "in logs slash app slash today"
    assert en("`a`/`b`") == "`a` slash `b`" and en("--model/-m") == "--model/-m"


def test_unicode_digits_in_addresses_and_codes_do_not_break_a_rule():
    # "²" and "٣" are digits to str.isdigit() and \d but not to int(): under QWENTTS_NORMALIZE_STRICT
    # (set for the tests) a rule that let them through would raise here.
    assert en("see http://x.io/m²") == "see h t t p colon slash slash x dot io slash m"
    assert normalize("сайт http://x.io/m²", "ru") == "сайт h t t p двоеточие слэш слэш x точка io слэш m"
