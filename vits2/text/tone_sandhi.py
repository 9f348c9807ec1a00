"""Mandarin tone sandhi over jieba words, behaving exactly as upstream Bert-VITS2 v2.3's ToneSandhi.

Finals are pypinyin FINALS_TONE3 strings ("ao3", "e5"); tones are rewritten in the last
character. Two stages, as upstream:

- `pre_merge_for_modify(seg)` regroups jieba's (word, pos) list so sandhi sees the right units:
  不 joins the next word, 一 joins reduplicated verbs (听一听) and the next word, reduplicated
  words join (看看), runs of third-tone words join (up to 3 characters), 儿 joins the word before.
- `modified_tone(word, pos, finals)` applies 不 sandhi, 一 sandhi, neutral tones (particles,
  suffixes, reduplication, a lexicon of neutral-tone words) and third-tone sandhi.

Upstream quirks are kept on purpose because checkpoints were trained on their output: e.g. a
second 听一听 in one sentence makes the whole 一 merge fall back to jieba's segmentation, and
了/着/过 get no forced neutral tone (that rule is disabled upstream).
"""

from __future__ import annotations

from collections.abc import Callable

Seg = list[list[str]]
"""A segmented sentence: [[word, pos], ...] with jieba POS tags."""

# Words whose last syllable is neutral (轻声) in standard Mandarin; upstream's lexicon.
MUST_NEUTRAL_TONE_WORDS: frozenset[str] = frozenset(
    """
    麻烦 麻利 鸳鸯 高粱 骨头 骆驼 马虎 首饰 馒头 馄饨 风筝 难为 队伍 阔气 闺女 门道 锄头 铺盖
    铃铛 铁匠 钥匙 里脊 里头 部分 那么 道士 造化 迷糊 连累 这么 这个 运气 过去 软和 转悠 踏实
    跳蚤 跟头 趔趄 财主 豆腐 讲究 记性 记号 认识 规矩 见识 裁缝 补丁 衣裳 衣服 衙门 街坊 行李
    行当 蛤蟆 蘑菇 薄荷 葫芦 葡萄 萝卜 荸荠 苗条 苗头 苍蝇 芝麻 舒服 舒坦 舌头 自在 膏药 脾气
    脑袋 脊梁 能耐 胳膊 胭脂 胡萝 胡琴 胡同 聪明 耽误 耽搁 耷拉 耳朵 老爷 老实 老婆 老头 老太
    翻腾 罗嗦 罐头 编辑 结实 红火 累赘 糨糊 糊涂 精神 粮食 簸箕 篱笆 算计 算盘 答应 笤帚 笑语
    笑话 窟窿 窝囊 窗户 稳当 稀罕 称呼 秧歌 秀气 秀才 福气 祖宗 砚台 码头 石榴 石头 石匠 知识
    眼睛 眯缝 眨巴 眉毛 相声 盘算 白净 痢疾 痛快 疟疾 疙瘩 疏忽 畜生 生意 甘蔗 琵琶 琢磨 琉璃
    玻璃 玫瑰 玄乎 狐狸 状元 特务 牲口 牙碜 牌楼 爽快 爱人 热闹 烧饼 烟筒 烂糊 点心 炊帚 灯笼
    火候 漂亮 滑溜 溜达 温和 清楚 消息 浪头 活泼 比方 正经 欺负 模糊 槟榔 棺材 棒槌 棉花 核桃
    栅栏 柴火 架势 枕头 枇杷 机灵 本事 木头 木匠 朋友 月饼 月亮 暖和 明白 时候 新鲜 故事 收拾
    收成 提防 挖苦 挑剔 指甲 指头 拾掇 拳头 拨弄 招牌 招呼 抬举 护士 折腾 扫帚 打量 打算 打点
    打扮 打听 打发 扎实 扁担 戒指 懒得 意识 意思 情形 悟性 怪物 思量 怎么 念头 念叨 快活 忙活
    志气 心思 得罪 张罗 弟兄 开通 应酬 庄稼 干事 帮手 帐篷 希罕 师父 师傅 巴结 巴掌 差事 工夫
    岁数 屁股 尾巴 少爷 小气 小伙 将就 对头 对付 寡妇 家伙 客气 实在 官司 学问 学生 字号 嫁妆
    媳妇 媒人 婆家 娘家 委屈 姑娘 姐夫 妯娌 妥当 妖精 奴才 女婿 头发 太阳 大爷 大方 大意 大夫
    多少 多么 外甥 壮实 地道 地方 在乎 困难 嘴巴 嘱咐 嘟囔 嘀咕 喜欢 喇嘛 喇叭 商量 唾沫 哑巴
    哈欠 哆嗦 咳嗽 和尚 告诉 告示 含糊 吓唬 后头 名字 名堂 合同 吆喝 叫唤 口袋 厚道 厉害 千斤
    包袱 包涵 匀称 勤快 动静 动弹 功夫 力气 前头 刺猬 刺激 别扭 利落 利索 利害 分析 出息 凑合
    凉快 冷战 冤枉 冒失 养活 关系 先生 兄弟 便宜 使唤 佩服 作坊 体面 位置 似的 伙计 休息 什么
    人家 亲戚 亲家 交情 云彩 事情 买卖 主意 丫头 丧气 两口 东西 东家 世故 不由 不在 下水 下巴
    上头 上司 丈夫 丈人 一辈 那个 菩萨 父亲 母亲 咕噜 邋遢 费用 冤家 甜头 介绍 荒唐 大人 泥鳅
    幸福 熟悉 计划 扑腾 蜡烛 姥爷 照顾 喉咙 吉他 弄堂 蚂蚱 凤凰 拖沓 寒碜 糟蹋 倒腾 报复 逻辑
    盘缠 喽啰 牢骚 咖喱 扫把 惦记
    """.split()
)

# Words that look like neutral-tone patterns (…子, reduplication) but keep their full tone.
MUST_NOT_NEUTRAL_TONE_WORDS: frozenset[str] = frozenset(
    "男子 女子 分子 原子 量子 莲子 石子 瓜子 电子 人人 虎虎".split()
)

SENTENCE_FINAL_PARTICLES = "吧呢啊呐噻嘛吖嗨呐哦哒额滴哩哟喽啰耶喔诶"
STRUCTURAL_PARTICLES = "的地得"
# 一 keeps tone 1 before these (upstream's list, ASCII and full-width).
PUNCTUATION_AFTER_YI = "：，；。？！“”‘’':,;.?!"

FinalsOf = Callable[[str], list[str]]
"""word -> its FINALS_TONE3 finals (one per character), as lazy_pinyin gives them."""
SplitWord = Callable[[str], list[str]]
"""word -> jieba.cut_for_search pieces, in jieba's order."""


def _with_tone(final: str, tone: str) -> str:
    return final[:-1] + tone


def _all_tone_three(finals: list[str]) -> bool:
    return all(f[-1] == "3" for f in finals)


def _is_reduplication(word: str) -> bool:
    return len(word) == 2 and word[0] == word[1]


class ToneSandhi:
    """Upstream ToneSandhi. `finals_of` and `search_cut` are the pypinyin and jieba hooks."""

    def __init__(self, finals_of: FinalsOf, search_cut: SplitWord) -> None:
        self._finals_of = finals_of
        self._search_cut = search_cut

    # ---- per-word tone rules -------------------------------------------------------------

    def _split_word(self, word: str) -> list[str]:
        """Split a word in two around its shortest jieba search piece (first one on ties)."""
        shortest = sorted(self._search_cut(word), key=len)[0]
        if word.find(shortest) == 0:
            return [shortest, word[len(shortest) :]]
        return [word[: -len(shortest)], shortest]

    def _neutral_sandhi(self, word: str, pos: str, finals: list[str]) -> list[str]:
        for j in range(1, len(word)):
            # Reduplicated nouns/verbs/adjectives: 奶奶, 试试, 旺旺.
            if (
                word[j] == word[j - 1]
                and pos[0] in "nva"
                and word not in MUST_NOT_NEUTRAL_TONE_WORDS
            ):
                finals[j] = _with_tone(finals[j], "5")
        ge_idx = word.find("个")
        if word[-1] in SENTENCE_FINAL_PARTICLES or word[-1] in STRUCTURAL_PARTICLES:
            finals[-1] = _with_tone(finals[-1], "5")
        elif (
            len(word) > 1
            and word[-1] in "们子"
            and pos in ("r", "n")
            and word not in MUST_NOT_NEUTRAL_TONE_WORDS
        ):
            finals[-1] = _with_tone(finals[-1], "5")
        elif len(word) > 1 and word[-1] in "上下里" and pos in ("s", "l", "f"):
            # 桌上, 地下, 家里
            finals[-1] = _with_tone(finals[-1], "5")
        elif len(word) > 1 and word[-1] in "来去" and word[-2] in "上下进出回过起开":
            # 上来, 下去
            finals[-1] = _with_tone(finals[-1], "5")
        elif (
            ge_idx >= 1
            and (word[ge_idx - 1].isnumeric() or word[ge_idx - 1] in "几有两半多各整每做是")
        ) or word == "个":
            # 个 as a measure word
            finals[ge_idx] = _with_tone(finals[ge_idx], "5")
        elif word in MUST_NEUTRAL_TONE_WORDS or word[-2:] in MUST_NEUTRAL_TONE_WORDS:
            finals[-1] = _with_tone(finals[-1], "5")

        parts = self._split_word(word)
        halves = [finals[: len(parts[0])], finals[len(parts[0]) :]]
        for half, part in zip(halves, parts, strict=True):
            if part in MUST_NEUTRAL_TONE_WORDS or part[-2:] in MUST_NEUTRAL_TONE_WORDS:
                half[-1] = _with_tone(half[-1], "5")
        return halves[0] + halves[1]

    @staticmethod
    def _bu_sandhi(word: str, finals: list[str]) -> list[str]:
        if len(word) == 3 and word[1] == "不":
            # 看不懂
            finals[1] = _with_tone(finals[1], "5")
        else:
            for i, char in enumerate(word):
                # 不 before a fourth tone is bu2: 不怕
                if char == "不" and i + 1 < len(word) and finals[i + 1][-1] == "4":
                    finals[i] = _with_tone(finals[i], "2")
        return finals

    @staticmethod
    def _yi_sandhi(word: str, finals: list[str]) -> list[str]:
        if "一" in word and all(c.isnumeric() for c in word if c != "一"):
            # 一 inside a number (一零零, 二一零) or alone keeps tone 1.
            return finals
        if len(word) == 3 and word[1] == "一" and word[0] == word[-1]:
            # 看一看
            finals[1] = _with_tone(finals[1], "5")
        elif word.startswith("第一"):
            finals[1] = _with_tone(finals[1], "1")
        else:
            for i, char in enumerate(word):
                if char == "一" and i + 1 < len(word):
                    if finals[i + 1][-1] == "4":
                        finals[i] = _with_tone(finals[i], "2")  # 一段
                    elif word[i + 1] not in PUNCTUATION_AFTER_YI:
                        finals[i] = _with_tone(finals[i], "4")  # 一天
        return finals

    def _three_sandhi(self, word: str, finals: list[str]) -> list[str]:
        if len(word) == 2 and _all_tone_three(finals):
            finals[0] = _with_tone(finals[0], "2")
        elif len(word) == 3:
            parts = self._split_word(word)
            if _all_tone_three(finals):
                if len(parts[0]) == 2:
                    # disyllable + monosyllable: 蒙古/包
                    finals[0] = _with_tone(finals[0], "2")
                    finals[1] = _with_tone(finals[1], "2")
                elif len(parts[0]) == 1:
                    # monosyllable + disyllable: 纸/老虎
                    finals[1] = _with_tone(finals[1], "2")
            else:
                halves = [finals[: len(parts[0])], finals[len(parts[0]) :]]
                for i, half in enumerate(halves):
                    if _all_tone_three(half) and len(half) == 2:
                        half[0] = _with_tone(half[0], "2")  # 所有/人
                    elif (
                        i == 1
                        and not _all_tone_three(half)
                        and half[0][-1] == "3"
                        and halves[0][-1][-1] == "3"
                    ):
                        halves[0][-1] = _with_tone(halves[0][-1], "2")  # 好/喜欢
                finals = halves[0] + halves[1]
        elif len(word) == 4:
            # Idioms: two disyllables.
            halves = [finals[:2], finals[2:]]
            for half in halves:
                if _all_tone_three(half):
                    half[0] = _with_tone(half[0], "2")
            finals = halves[0] + halves[1]
        return finals

    def modified_tone(self, word: str, pos: str, finals: list[str]) -> list[str]:
        """Tone-sandhied copy of `finals` for one (merged) word with jieba tag `pos`."""
        finals = list(finals)
        finals = self._bu_sandhi(word, finals)
        finals = self._yi_sandhi(word, finals)
        finals = self._neutral_sandhi(word, pos, finals)
        return self._three_sandhi(word, finals)

    # ---- regrouping before the per-word rules -------------------------------------------

    @staticmethod
    def _merge_bu(seg: Seg) -> Seg:
        new_seg: Seg = []
        last_word = ""
        for word, pos in seg:
            if last_word == "不":
                word = last_word + word
            if word != "不":
                new_seg.append([word, pos])
            last_word = word
        if last_word == "不":
            new_seg.append([last_word, "d"])
        return new_seg

    @staticmethod
    def _merge_yi(seg: Seg) -> Seg:
        """听/一/听 -> 听一听, then 一 + next word.

        Upstream indexes its output list with the input position, so after one 听一听 merge a
        second one in the same sentence raises; upstream then keeps the unmerged segmentation,
        and so does this (the caller catches IndexError).
        """
        new_seg: Seg = []
        i = 0
        while i < len(seg):
            word, pos = seg[i]
            if (
                i >= 1
                and word == "一"
                and i + 1 < len(seg)
                and seg[i - 1][0] == seg[i + 1][0]
                and seg[i - 1][1] == "v"
            ):
                new_seg[i - 1][0] = new_seg[i - 1][0] + "一" + new_seg[i - 1][0]
                i += 2
            else:
                # Upstream loops forever on X/一/X where only the second X is tagged "v"; here
                # the second X is simply kept as its own word.
                new_seg.append([word, pos])
                i += 1
        merged: Seg = []
        for word, pos in new_seg:
            if merged and merged[-1][0] == "一":
                merged[-1][0] = merged[-1][0] + word
            else:
                merged.append([word, pos])
        return merged

    @staticmethod
    def _merge_reduplication(seg: Seg) -> Seg:
        new_seg: Seg = []
        for word, pos in seg:
            if new_seg and word == new_seg[-1][0]:
                new_seg[-1][0] = new_seg[-1][0] + word
            else:
                new_seg.append([word, pos])
        return new_seg

    def _merge_three_tones(self, seg: Seg, joins: Callable[[list[str], list[str]], bool]) -> Seg:
        """Join word i to word i-1 when `joins(finals[i-1], finals[i])`, at most 3 characters."""
        finals = [self._finals_of(word) for word, _ in seg]
        new_seg: Seg = []
        merged_last = [False] * len(seg)
        for i, (word, pos) in enumerate(seg):
            if (
                i >= 1
                and joins(finals[i - 1], finals[i])
                and not merged_last[i - 1]
                # a reduplication stays apart: it needs its neutral tone
                and not _is_reduplication(seg[i - 1][0])
                and len(seg[i - 1][0]) + len(word) <= 3
            ):
                new_seg[-1][0] = new_seg[-1][0] + word
                merged_last[i] = True
            else:
                new_seg.append([word, pos])
        return new_seg

    @staticmethod
    def _merge_er(seg: Seg) -> Seg:
        new_seg: Seg = []
        for i, (word, pos) in enumerate(seg):
            if i >= 1 and word == "儿" and seg[i - 1][0] != "#":
                new_seg[-1][0] = new_seg[-1][0] + word
            else:
                new_seg.append([word, pos])
        return new_seg

    def pre_merge_for_modify(self, seg: list[tuple[str, str]]) -> Seg:
        """Regroup jieba's [(word, pos), ...] into the units tone sandhi works on."""
        merged = self._merge_bu([[w, p] for w, p in seg])
        try:
            merged = self._merge_yi(merged)
        except IndexError:
            pass
        merged = self._merge_reduplication(merged)
        # both words entirely third tone: 老/老虎 -> 老老虎 is capped at 3 chars
        merged = self._merge_three_tones(
            merged, lambda a, b: _all_tone_three(a) and _all_tone_three(b)
        )
        # last syllable of one and first of the next are third tone: 很/久
        merged = self._merge_three_tones(merged, lambda a, b: a[-1][-1] == "3" and b[0][-1] == "3")
        return self._merge_er(merged)
