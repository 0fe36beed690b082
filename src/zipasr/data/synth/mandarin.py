"""Mandarin sentences for the synthetic corpus: templates over a closed vocabulary (simplified
characters), written for zipasr, and short phrases of one to three random words of it (two
utterances in five). Template sentences alone are predictable enough for a small model to write
them from its decoder's context without listening; random words in short utterances can only be
recognised from the audio, and put every character near an utterance's edge, where it is easy
to place.

The vocabulary keeps to words whose characters espeak-ng's ``cmn`` voice reads one way (no
polyphones such as 行 or 长 in two readings) and avoids sets of same-sounding characters that only
context could tell apart (他/她/它). Transcripts carry Chinese punctuation (，。？), which the
``basic`` normaliser removes, as real transcripts do. Numbers are written in characters.
"""

from __future__ import annotations

import random

NAMES = (
    "小明",
    "小红",
    "老王",
    "李华",
    "张伟",
    "王芳",
    "刘洋",
    "陈静",
    "赵磊",
    "孙丽",
    "周杰",
    "吴敏",
)
PLACES = (
    "学校",
    "公园",
    "医院",
    "商店",
    "图书馆",
    "火车站",
    "机场",
    "银行",
    "饭店",
    "超市",
    "博物馆",
    "体育馆",
    "办公室",
    "电影院",
    "动物园",
    "邮局",
)
#: (noun, its measure word)
THINGS = (
    ("苹果", "个"),
    ("西瓜", "个"),
    ("面包", "个"),
    ("书", "本"),
    ("杂志", "本"),
    ("咖啡", "杯"),
    ("牛奶", "杯"),
    ("绿茶", "杯"),
    ("衣服", "件"),
    ("毛衣", "件"),
    ("汽车", "辆"),
    ("雨伞", "把"),
    ("椅子", "把"),
    ("照片", "张"),
    ("桌子", "张"),
    ("地图", "张"),
    ("鞋子", "双"),
    ("手机", "部"),
    ("电脑", "台"),
    ("小猫", "只"),
    ("小狗", "只"),
)
COLOURS = ("红色", "蓝色", "白色", "黑色", "绿色", "黄色")
QUALITIES = ("很贵", "很便宜", "很漂亮", "很干净", "很新", "很旧", "特别好", "有意思")
VERBS = (
    "买了",
    "卖了",
    "带来",
    "找到了",
    "看见了",
    "拿走了",
    "送给我",
    "借给他",
    "放在桌上",
    "洗干净",
)
ACTIVITIES = (
    "散步",
    "看书",
    "吃饭",
    "买东西",
    "上班",
    "学习",
    "跑步",
    "等朋友",
    "看电影",
    "喝咖啡",
)
TIMES = (
    "今天",
    "明天",
    "昨天",
    "早上",
    "晚上",
    "下午",
    "上午",
    "星期一",
    "星期三",
    "星期五",
    "周末",
    "中午",
)
WEATHER = ("天气很好", "下雨了", "非常冷", "非常热", "刮大风", "阴天", "下雪了", "出太阳了")
DIRECTIONS = ("东边", "西边", "南边", "北边", "左边", "右边", "前面", "后面", "旁边", "对面")
DIGITS = ("零", "一", "二", "三", "四", "五", "六", "七", "八", "九")
COUNTS = ("一", "两", "三", "四", "五", "六", "七", "八", "九", "十")


def _digits(rng: random.Random) -> str:
    return "".join(rng.choice(DIGITS) for _ in range(rng.randint(3, 7)))


#: The word lists a short phrase draws from, each list equally likely.
_WORD_LISTS = (
    NAMES,
    PLACES,
    tuple(t for t, _ in THINGS),
    COLOURS,
    QUALITIES,
    VERBS,
    ACTIVITIES,
    TIMES,
    WEATHER,
    DIRECTIONS,
)


def _phrase(rng: random.Random) -> str:
    """One to three words drawn at random (a list, then a word of it), without a template:
    short and unpredictable, so every character is heard where it is easy to place."""
    words = [rng.choice(rng.choice(_WORD_LISTS)) for _ in range(rng.randint(1, 3))]
    return "，".join(words) + "。"


def sentence(rng: random.Random) -> str:
    """One Mandarin utterance: a short phrase of random words (40%) or a template sentence."""
    c = rng.choice
    if rng.random() < 0.4:
        return _phrase(rng)
    kind = rng.random()
    thing, measure = c(THINGS)
    if kind < 0.15:
        return c(("我的电话号码是", "房间号是", "请打", "密码是")) + _digits(rng) + "。"
    if kind < 0.3:
        return f"{c(TIMES)}{c(NAMES)}去{c(PLACES)}{c(ACTIVITIES)}。"
    if kind < 0.45:
        return f"{c(NAMES)}{c(VERBS)}{c(COUNTS)}{measure}{c(COLOURS)}的{thing}。"
    if kind < 0.55:
        return f"{c(TIMES)}{c(WEATHER)}，{c(NAMES)}在{c(PLACES)}{c(ACTIVITIES)}。"
    if kind < 0.65:
        return f"{c(PLACES)}在{c(PLACES)}的{c(DIRECTIONS)}。"
    if kind < 0.75:
        return f"请问{c(PLACES)}怎么走？"
    if kind < 0.87:
        return f"{c(NAMES)}说这{measure}{thing}{c(QUALITIES)}。"
    return f"{c(NAMES)}和{c(NAMES)}{c(TIMES)}在{c(PLACES)}{c(ACTIVITIES)}。"


def vocabulary() -> set[str]:
    """Every character a generated sentence can contain (punctuation excluded)."""
    words = [
        *NAMES,
        *PLACES,
        *(t + m for t, m in THINGS),
        *COLOURS,
        *QUALITIES,
        *VERBS,
        *ACTIVITIES,
        *TIMES,
        *WEATHER,
        *DIRECTIONS,
        *DIGITS,
        *COUNTS,
        "我的电话号码是房间号是请打密码是去的在说这和请问怎么走",
    ]
    return {char for word in words for char in word}
