"""A wide English lexicon for the synthetic corpus, written for zipasr: about 2,000 base words by
part of speech, from which :mod:`zipasr.data.synth.wide` makes plurals, past tenses and
third-person forms.

The lists are everyday English (household, nature, work, travel, food, science, feelings ...),
chosen so that a model trained on sentences over them must learn spelling from sound rather than
a phrase book. Words are lower-case ASCII letters only.
"""

from __future__ import annotations

NOUNS = """
account acid actor address adult advice afternoon age agency agent air airport alarm album
alley anchor angle animal ankle answer ant apartment apple apron arch area arm army arrow art
article artist ash attic audience aunt author autumn avenue baby back bag bakery balcony ball
balloon banana band bank barn barrel base basket bath battery battle beach bean bear beard bed
bedroom bee beer beetle bell belt bench berry bicycle bill bird birthday biscuit blade blanket
block blood blossom board boat body bone bonnet book boot border bottle bottom bowl box boy brain
branch bread breakfast brick bride bridge brother brush bucket budget building bulb bull bus
bush business butter butterfly button cabin cabinet cable cafe cage cake calendar camel camera
camp canal candle candy canoe canvas cap captain car card carpet carrot cart castle cat cattle
cave ceiling cellar cement chain chair chalk champion channel chapter charity cheek cheese chef
cherry chest chicken child chimney chin chip chocolate choir church cinema circle circus citizen
city class classroom clay cliff climate clinic clock cloth cloud clown club coach coal coast coat
coffee coin collar college colony colour comb comet comfort committee company compass computer
concert cook copper corn corner cottage cotton couch country county courage court cousin cow crab
crane crayon cream creature credit crew cricket crop crow crowd crown cup cupboard curtain
cushion customer dairy dance danger daughter dawn day deck deer desert desk dessert diamond diary
dinner dinosaur direction dirt disease dish distance doctor dog doll dolphin donkey door dot
dragon drain drawer drawing dream dress drink driver drop drum duck dust eagle ear earth edge egg
elbow election elephant elevator emperor enemy energy engine engineer envelope evening event
exam example exit eye fabric face factory fairy family farm farmer father feather fence ferry
festival field finger fire fish flag flame flat fleet flight flood floor flour flower flute fly
fog folder food foot forest fork fort fountain fox frame friend frog fruit fuel furniture gallery
game garage garden garlic gate gentleman ghost giant gift giraffe girl glass glove goat gold
grandmother grape grass gravel guest guitar gull hair hall hammer hand handle harbour harvest hat
hawk head health heart heat hedge helmet hen herb hill hip history hobby hole holiday honey hook
horizon horn horse hospital hotel hour house hunter hurricane husband ice idea inch insect island
jacket jam jar jelly jewel job journey judge juice jungle kettle key kid kingdom kitchen kite
kitten knee knife knot label ladder lady lake lamb lamp land language lantern laptop lawn lawyer
leaf leather lecture leg lemon lesson letter library lid lift light lion lip liquid list lizard
lobster lock log lorry luggage lunch machine magazine magnet mail map marble market meadow meal
meat medal medicine melon member memory message metal meter middle midnight milk mill mind mineral
minute mirror mist model moment money monkey month moon morning mosquito moss mother motor
mountain mouse mouth movie mud muscle museum mushroom music nail napkin nation neck needle
neighbour nest net newspaper night noise noodle north nose note notebook novel nurse oak ocean
office oil onion orange orchard oven owl owner oyster package page pain paint painter palace pan
pancake paper parade parcel parent park parrot party passenger path patient pea peach peanut pear
pebble pen pencil penguin pepper person pet phone photo piano picnic picture pie pig pigeon pillow
pilot pin pipe pirate pizza plane planet plant plate platform player pocket poem poet police
pond pony pool port portrait post pot potato powder prince princess printer prison prize problem
professor program pumpkin puppet puppy purse puzzle queen question rabbit radio rain rainbow
ranch rat recipe record reef report rescue restaurant rice riddle ring river road robot rock
rocket roof room root rope rose ruler sailor salad salt sand sandwich satellite sauce saucepan
scarf school science scientist scissors screen sea seal season seat secret seed shadow shark
sheep shelf shell shelter ship shirt shoe shop shore shoulder shower signal silk silver singer
sister skate skirt sky sled sleeve slipper snail snake snow soap sock sofa soil soldier song soup
south space spade spider spoon sport spring square squirrel stable stadium stage stair stamp star
station statue steam steel stick stomach stone storm story stove stranger straw stream street
string student studio submarine sugar suit summer sun supper surface swamp sweater sword table
tail tailor tank tea teacher team telescope temple tent theatre thread throat thumb thunder
ticket tiger timber toast toe tomato tongue tool tooth torch tourist towel tower town toy track
tractor traffic trail train tray treasure tree triangle trick truck trumpet tunnel turkey turtle
umbrella uncle uniform universe valley van vase vegetable vessel village violin visitor voice
volcano wagon waiter wall wallet walnut war wardrobe warehouse wasp watch water wave weather wedding
week well whale wheat wheel whistle wife wind window wing winter wire wizard wolf woman wood wool
worm writer yard year yogurt zebra zoo
"""

#: Nouns whose plural does not follow the spelling rules.
IRREGULAR_PLURALS = {
    "child": "children",
    "foot": "feet",
    "tooth": "teeth",
    "mouse": "mice",
    "man": "men",
    "woman": "women",
    "goose": "geese",
    "knife": "knives",
    "leaf": "leaves",
    "wolf": "wolves",
    "wife": "wives",
    "shelf": "shelves",
    "sheep": "sheep",
    "deer": "deer",
    "fish": "fish",
    "cattle": "cattle",
    "scissors": "scissors",
    "person": "people",
    "potato": "potatoes",
    "tomato": "tomatoes",
    "volcano": "volcanoes",
    "hero": "heroes",
}

#: Verbs as ``base:past`` (regular pasts are written out too, so that no rule can misspell them).
VERBS = """
accept:accepted add:added admire:admired admit:admitted adopt:adopted allow:allowed
answer:answered arrange:arranged arrive:arrived ask:asked bake:baked balance:balanced
bang:banged bathe:bathed begin:began behave:behaved believe:believed bend:bent bite:bit
blink:blinked boil:boiled borrow:borrowed bounce:bounced break:broke breathe:breathed bring:brought
brush:brushed build:built burn:burned bury:buried buy:bought calculate:calculated call:called
carry:carried carve:carved catch:caught change:changed chase:chased check:checked cheer:cheered
chew:chewed choose:chose clap:clapped clean:cleaned climb:climbed close:closed collect:collected
comb:combed complain:complained cook:cooked copy:copied count:counted cover:covered crack:cracked
crawl:crawled cross:crossed crush:crushed cry:cried cut:cut dance:danced decide:decided
deliver:delivered describe:described design:designed destroy:destroyed dig:dug discover:discovered
divide:divided draw:drew dream:dreamed dress:dressed drink:drank drive:drove drop:dropped dry:dried
earn:earned eat:ate empty:emptied enjoy:enjoyed enter:entered escape:escaped examine:examined
explain:explained explore:explored fail:failed fasten:fastened feed:fed fetch:fetched fill:filled
find:found finish:finished fix:fixed float:floated fold:folded follow:followed forget:forgot
forgive:forgave freeze:froze frighten:frightened gather:gathered give:gave grab:grabbed
greet:greeted grow:grew guard:guarded guess:guessed hammer:hammered hang:hung happen:happened
hate:hated hear:heard help:helped hide:hid hit:hit hold:held hope:hoped hug:hugged hunt:hunted
hurry:hurried imagine:imagined improve:improved invent:invented invite:invited iron:ironed
join:joined juggle:juggled jump:jumped keep:kept kick:kicked kiss:kissed kneel:knelt knit:knitted
knock:knocked know:knew land:landed laugh:laughed lead:led learn:learned leave:left lend:lent
lift:lifted like:liked listen:listened live:lived load:loaded lock:locked lose:lost love:loved
make:made mark:marked marry:married measure:measured meet:met melt:melted mend:mended mix:mixed
move:moved nod:nodded notice:noticed obey:obeyed offer:offered open:opened order:ordered
pack:packed paint:painted park:parked pass:passed paste:pasted pay:paid pick:picked pinch:pinched
plant:planted play:played point:pointed polish:polished pour:poured pray:prayed prefer:preferred
prepare:prepared press:pressed print:printed promise:promised protect:protected pull:pulled
punch:punched push:pushed question:questioned race:raced rain:rained reach:reached read:read
receive:received record:recorded relax:relaxed remember:remembered remove:removed repair:repaired
repeat:repeated reply:replied rescue:rescued return:returned ride:rode ring:rang rinse:rinsed
rise:rose roar:roared roll:rolled rub:rubbed run:ran rush:rushed sail:sailed save:saved
scatter:scattered scratch:scratched scream:screamed search:searched see:saw sell:sold send:sent
sew:sewed shake:shook share:shared shave:shaved shine:shone shout:shouted show:showed shut:shut
sing:sang sink:sank sit:sat ski:skied skip:skipped sleep:slept slide:slid smell:smelled
smile:smiled sneeze:sneezed solve:solved sort:sorted speak:spoke spell:spelled spend:spent
spill:spilled spin:spun splash:splashed spread:spread squeeze:squeezed stamp:stamped stand:stood
stare:stared start:started steal:stole step:stepped stir:stirred stop:stopped stretch:stretched
study:studied suggest:suggested supply:supplied surprise:surprised swallow:swallowed sweep:swept
swim:swam swing:swung take:took talk:talked taste:tasted teach:taught tear:tore tell:told
thank:thanked think:thought throw:threw tickle:tickled tie:tied touch:touched trace:traced
train:trained travel:travelled treat:treated trust:trusted try:tried turn:turned type:typed
understand:understood unlock:unlocked use:used visit:visited wait:waited wake:woke walk:walked
want:wanted warn:warned wash:washed watch:watched water:watered wave:waved wear:wore weigh:weighed
welcome:welcomed whisper:whispered whistle:whistled win:won wish:wished wonder:wondered
worry:worried wrap:wrapped write:wrote yawn:yawned yell:yelled
"""

ADJECTIVES = """
able absent active afraid angry ancient annoyed anxious awake awful bad bare basic beautiful
best big bitter black blank blind blond blue bold bored brave brief bright brilliant broad broken
brown busy calm careful careless certain cheap cheerful chilly clean clear clever close cloudy
clumsy cold colourful comfortable common cool correct cosy crazy creamy crisp crooked crowded
cruel curious curly cute damp dangerous dark dead deep delicate delicious dirty distant dizzy
dry dull dusty eager early easy elegant empty enormous entire equal even evil exact excellent
excited expensive extra faint fair fake familiar famous fancy fast fat favourite fierce final fine
firm flat fluffy foggy foolish foreign formal fragile free fresh friendly frozen full funny fuzzy
gentle giant gigantic glad glossy golden good gorgeous graceful grand grateful great greedy green
grey grumpy guilty hairy handsome happy hard harsh healthy heavy helpful helpless hidden high
hollow honest hot huge humble hungry icy ideal idle ill important innocent jealous jolly juicy
kind large late lazy light little lively lonely long loose loud lovely low loyal lucky mad magic
major massive mature mean messy mighty mild minor modern moist narrow nasty natural naughty near
neat nervous new nice noble noisy normal numb obvious odd old open orange ordinary pale patient
peaceful perfect pink plain plastic pleasant plenty polite poor popular positive powerful precious
pretty private proud purple quick quiet rapid rare raw ready real recent red rich ripe rotten
rough round royal rude rusty sad safe salty scared secret selfish serious shallow sharp shiny
short shy sick silent silly simple single skinny sleepy slim slippery slow small smart smooth
soft solid sore sour spare special spicy splendid square steady steep sticky stiff strange strict
striped strong stupid sudden sunny super sweet swift tall tame tender terrible thick thin thirsty
tidy tight tiny tired tough tricky true ugly unusual upset useful useless usual vast violet
visible warm weak wealthy weird wet white whole wicked wide wild wise wooden woolly worried wrong
yellow young zealous
"""

ADVERBS = """
always angrily badly boldly bravely briefly brightly calmly carefully cheerfully clearly closely
easily eagerly early finally firmly gently gladly happily hardly honestly kindly lately loudly
luckily madly merely nearly neatly never often openly patiently politely proudly quickly quietly
rarely really rudely sadly safely seldom sharply shyly silently simply slowly softly sometimes
soon steadily strictly suddenly surely swiftly tightly today tomorrow truly usually warmly weekly
wildly wisely yesterday
"""

NAMES = """
aaron abigail adam alice amelia andrew angela anthony arthur barbara beatrice benjamin bernard
bruno caroline catherine cecilia charles charlotte christopher claire daniel deborah dennis diana
dorothy edgar edward eleanor elijah elizabeth ellen emily eric eva felix fiona florence francis
gabriel george gilbert gloria gordon hannah harold harriet hazel helen herbert hugo ian irene
isaac isabel jack jacob james jane jasper jennifer jeremy jessica joan john jonathan joseph
joshua judith katherine leo leonard lily louis lucy lydia margaret maria matthew maurice maxwell
melissa michael miles molly nathan nicholas oliver olivia patrick peter philip rachel raymond
rebecca richard rosa samuel simon sophie stanley stella stephen susan theodore timothy ursula
valerie vincent walter wendy william yvonne zachary
"""

PLACES = """
africa alaska amsterdam athens berlin boston brazil cairo canada chicago china denmark dublin
egypt england finland florence france geneva germany greece holland iceland india ireland italy
jamaica japan kenya lisbon london madrid mexico moscow norway oxford paris peru poland portugal
rome russia scotland spain sweden sydney texas tokyo toronto turkey venice vienna wales
"""

#: Words that join the others; never held out of training.
FUNCTION_WORDS = """
a about after again all almost also an and another any around as at away because before behind
below beneath beside between both but by down during each either every few for from he her here
him his how i in inside into it its just later many me more most much my near neither next no nor
not now of off on once one only onto or other our out outside over past please quite rather she
since so some soon than that the their them then there these they this those though through to
too toward under until up upon us very was we were what when where which while who why will with
within without would yet you your
"""

COLOURS = "red green blue yellow orange purple pink brown black white grey silver golden violet"

NUMBERS = """
zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred
thousand
"""

PREPOSITIONS = """
above across after against along among around at behind below beneath beside between beyond by
inside near outside over past through toward under underneath within without
"""

TIMES = """
today|yesterday|tomorrow|tonight|at night|in the morning|in the afternoon|in the evening|
after dinner|before breakfast|last week|next week|every day|on monday|on tuesday|on wednesday|
on thursday|on friday|on saturday|on sunday|in january|in february|in march|in april|in may|
in june|in july|in august|in september|in october|in november|in december|at noon|at midnight
"""
