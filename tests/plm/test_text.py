"""Normalisation rules on real-looking lines (most taken from the Olive Young reviews,
NSMC and the 2017 petitions in the shared data), including false friends."""

import pytest

from plm.text import Rules, load_rules, normalise_documents, normalise_text

REVIEW = load_rules("review")
PUBLIC = load_rules("public")


def norm(text, rules=REVIEW):
    return normalise_text(text, rules)


@pytest.mark.parametrize(
    "line, expected",
    [
        ("문의는 010-1234-5678 로 주세요", "문의는 [PHONE] 로 주세요"),
        ("판매자 연락처 01012345678 입니다", "판매자 연락처 [PHONE] 입니다"),
        ("문의처(02-788-4649, 의원실)", "문의처([PHONE], 의원실)"),
        ("매장 번호 031 123 4567 로 전화", "매장 번호 [PHONE] 로 전화"),
        ("고객센터 1588-1234 에 물어봤어요", "고객센터 [PHONE] 에 물어봤어요"),
        ("해외에서 +82-10-1234-5678 로 연락", "해외에서 [PHONE] 로 연락"),
    ],
)
def test_phone_numbers_become_a_token(line, expected):
    assert norm(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "정가 15,900원인데 세일해서 12900원에 샀어요",  # prices
        "2023.01.15에 주문했고 2023-01-18 도착",  # dates
        "20230115 주문번호 확인",  # a date as digits
        "임진왜란(1592-1598) 당시",  # a year range
        "50ml 용량에 0.5% 함유",  # amounts
        "1,500,000원 상당의 세트",  # a large price
    ],
)
def test_false_friends_of_phone_numbers_stay(line):
    assert "[PHONE]" not in norm(line, PUBLIC)


def test_email_and_url():
    line = "자세한 내용은 (02-788-4649, tanzania@assembly.go.kr) 또는 https://www.assembly.go.kr/portal/main.do 참고"
    assert norm(line, PUBLIC) == "자세한 내용은 ([PHONE], [EMAIL]) 또는 [URL] 참고"
    assert norm("올리브영 oliveyoung.co.kr 에서 샀어요") == "올리브영 [URL] 에서 샀어요"
    # A decimal is not a domain; a dotted word in Korean text is not a URL.
    assert norm("SPF50+ PA++++ 0.5ml 샘플") == "SPF50+ PA++ 0.5ml 샘플"


def test_person_names_where_detectable():
    assert norm("김민지 님이 추천해줘서 샀어요") == "[PERSON] 님이 추천해줘서 샀어요"
    assert norm("매장 직원 박서연씨가 친절했어요") == "매장 직원 [PERSON]씨가 친절했어요"
    assert norm("리뷰어 김*수 님 말처럼") == "리뷰어 [PERSON] 님 말처럼"
    assert norm("@beauty_lover 님 추천템") == "[PERSON] 님 추천템"
    # Titles and common words before 님/씨 are not names.
    assert norm("피부과 선생님도 고객님도 전문가님도 좋대요") == "피부과 선생님도 고객님도 전문가님도 좋대요"


@pytest.mark.parametrize(
    "line, expected",
    [
        ("굳 ㅋ", "굳 {laughing}"),  # NSMC train, first line
        ("유명한 제품인데 처음 써봤네ㅋㅋㅋㅋㅋ", "유명한 제품인데 처음 써봤네{laughing}"),
        ("ㅎㅎㅎ 너무 좋아요 ㅋㅋ ㅎㅎ", "{laughing} 너무 좋아요 {laughing}"),
        ("하하하 완전 만족", "{laughing} 완전 만족"),
    ],
)
def test_laughs_become_one_token(line, expected):
    assert norm(line) == expected


# One assert a case, as in the tests above: the input and the expected text are the data.
def test_laugh_false_friends():
    assert norm("하루 종일 촉촉해요") == "하루 종일 촉촉해요"
    assert norm("호호바 오일이 들어있어요") == "호호바 오일이 들어있어요"


def test_repeats_are_shortened_as_soynlp_does():
    assert norm("진짜 좋아요ㅠㅠㅠㅠㅠㅠ 최고최고") == "진짜 좋아요ㅠㅠ 최고최고"
    assert norm("너무너무 좋아요!!!!!!") == "너무너무 좋아요!!"
    assert norm("완전 강추......") == "완전 강추..."
    # digits are not a repeat: a price or a quantity keeps its value
    assert norm("정가 100000원인데 세일해서 샀어요", Rules(numbers="keep")) == "정가 100000원인데 세일해서 샀어요"
    assert norm("2222ml 대용량") == norm("2222ml 대용량", Rules(repeat=0))


def test_emoji_rules():
    line = "올영에서 바로 구할수 있어서 좋아요😎😎😎 👍🏻👍🏽"
    assert norm(line, Rules(emoji="normalise")) == "올영에서 바로 구할수 있어서 좋아요😎 👍"
    assert norm(line, Rules(emoji="drop")) == "올영에서 바로 구할수 있어서 좋아요"
    assert norm(line, Rules(emoji="keep")) == line


def test_special_characters_and_foreign_text():
    assert norm("향이 좋아요♡♡♥ ★★★★★", Rules(special="normalise")) == "향이 좋아요♡ ★"
    assert norm("향이 좋아요♡♡♥ ★★★★★", Rules(special="drop")) == "향이 좋아요"
    assert norm("세종(世宗)은 조선의 왕이다", PUBLIC) == "세종(世宗)은 조선의 왕이다"
    assert norm("세종(世宗)은 조선의 왕이다", Rules(foreign="drop")) == "세종은 조선의 왕이다"
    assert norm("Dr.Jart 시카페어 크림", Rules(foreign="drop")) == "Dr.Jart 시카페어 크림"


def test_numbers_and_punctuation_rules():
    assert norm("가격은 15,900원 50ml", Rules(numbers="normalise")) == "가격은 00,000원 00ml"
    assert norm("가격은 15,900원 50ml", Rules(numbers="drop")) == "가격은 ,원 ml"
    assert norm("“정말” 좋아요… ＡＢＣ", Rules(punctuation="normalise")) == '"정말" 좋아요...\nABC'
    assert norm("“정말” (진짜) 좋아요!", Rules(punctuation="drop")) == "정말 진짜 좋아요!"


def test_tokens_survive_later_rules():
    # Punctuation dropping must not break [PHONE]/{laughing}, nor tokens already in the text.
    rules = Rules(punctuation="drop", special="drop")
    assert norm("[PHONE] 로 연락 ㅋㅋ 010-1111-2222", rules) == "[PHONE] 로 연락 {laughing} [PHONE]"


def test_sentence_splitting_and_documents():
    docs, counts = normalise_documents(
        [
            "요즘 햇빛이 너무 따가운데 잡티가 생겨서 신경쓰고 있습니다.그래서 놀러갈 때 붙여요 잘 떨어지지 않아요",
            "",
            "촉촉해요\r\n\r\n유분기는 많지 않아요",
        ],
        REVIEW,
    )
    assert docs == [
        [
            "요즘 햇빛이 너무 따가운데 잡티가 생겨서 신경쓰고 있습니다.",
            "그래서 놀러갈 때 붙여요",
            "잘 떨어지지 않아요",
        ],
        [],
        ["촉촉해요", "유분기는 많지 않아요"],
    ]
    assert counts["laughing"] == 0


def test_kiwi_splitter_is_an_option():
    rules = Rules(splitter="kiwi")
    assert norm("촉촉해요 유분기는 많지 않아서 건성보다는 복합성에 더 좋을것 같아요", rules).split("\n") == [
        "촉촉해요",
        "유분기는 많지 않아서 건성보다는 복합성에 더 좋을것 같아요",
    ]


def test_counts_of_replacements():
    _, counts = normalise_documents(["ㅋㅋ 010-1234-5678", "a@b.com ㅎㅎ", "김민지 님"], REVIEW)
    assert (counts["laughing"], counts["phone"], counts["email"], counts["person"]) == (2, 1, 1, 1)


def test_profiles_and_overrides(tmp_path):
    assert PUBLIC.emoji == "drop" and REVIEW.emoji == "normalise"
    override = tmp_path / "mine.toml"
    override.write_text('profile = "public"\nemoji = "keep"\nmin_document_chars = 3\n', encoding="utf-8")
    rules = load_rules(str(override))
    assert (rules.emoji, rules.foreign, rules.min_document_chars) == ("keep", PUBLIC.foreign, 3)
    bad = tmp_path / "bad.toml"
    bad.write_text('emojis = "keep"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="unknown rule key"):
        load_rules(str(bad))
    bad.write_text('emoji = "maybe"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="emoji = 'maybe'"):
        load_rules(str(bad))
    with pytest.raises(ValueError, match="unknown rules"):
        load_rules("wiki")
