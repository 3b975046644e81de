"""The package's words in the learner's language: English by default, Chinese after ``set_language("zh")``.

One table, ``MESSAGES``: each key has an English and a Chinese text (a test checks that every key has both, with the
same ``{placeholders}``). ``tr(key, **values)`` gives the text of the current language. The Chinese notebooks
(``notebooks/zh/``) select Chinese in their setup cell; check results, widget labels and the errors a learner meets
most often then speak Chinese, and everything else stays English.
"""

from __future__ import annotations

LANGUAGES = ("en", "zh")
_current = {"language": "en"}


def set_language(language: str) -> None:
    """Choose the language of check results, widget labels and common error messages: ``"en"`` or ``"zh"``."""
    if not isinstance(language, str) or language.strip().lower() not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES} ('en': English, 'zh': 中文), got {language!r}")
    _current["language"] = language.strip().lower()


def get_language() -> str:
    """The language chosen with ``set_language`` (``"en"`` until then)."""
    return _current["language"]


def tr(key: str, **values) -> str:
    """The message ``key`` in the current language, with ``values`` filled in."""
    texts = MESSAGES[key]
    return texts.get(get_language(), texts["en"]).format(**values)


MESSAGES: dict[str, dict[str, str]] = {
    # check results
    "PASS": {"en": "PASS", "zh": "通过"},
    "FAIL": {"en": "FAIL", "zh": "未通过"},
    "hint": {"en": "Hint: ", "zh": "提示："},
    "took_too_long": {
        "en": "{where}: your function took over {limit} s (an endless loop?)",
        "zh": "{where}：你的函数运行超过 {limit} 秒（是不是死循环？）",
    },
    "raised": {
        "en": "{where}: your function raised {error}",
        "zh": "{where}：你的函数抛出了异常 {error}",
    },
    "returned": {"en": "{where}: {name} returned {what}", "zh": "{where}：{name} 返回了 {what}"},
    "missing_return": {"en": " (a missing `return`?)", "zh": "（是不是漏了 `return`？）"},
    "return_want": {"en": "; return {want}", "zh": "；应返回{want}"},
    "want_number": {"en": "one number (a float)", "zh": "一个数（float）"},
    "want_tensor": {"en": "a torch tensor of shape {shape}", "zh": "形状为 {shape} 的 torch 张量"},
    "not_complex": {
        "en": "; return a real {kind}, not a complex one",
        "zh": "；应返回实数{kind}，而不是复数",
    },
    "kind_number": {"en": "number", "zh": "数"},
    "kind_tensor": {"en": "tensor", "zh": "张量"},
    "not_float": {
        "en": "; return floating point (e.g. torch.float32), not whole numbers or booleans",
        "zh": "；应返回浮点数（例如 torch.float32），而不是整数或布尔值",
    },
    "wrong_shape": {
        "en": "{where}: {name} returned a tensor of shape {shape}; return {want}",
        "zh": "{where}：{name} 返回的张量形状为 {shape}；应返回{want}",
    },
    "not_finite_number": {
        "en": "{where}: {name} returned {value}; return a finite number",
        "zh": "{where}：{name} 返回了 {value}；应返回有限的数",
    },
    "not_finite_values": {
        "en": "{where}: {name} returned {found} of {count} values ({why})",
        "zh": "{where}：{name} 返回的 {count} 个值中有 {found}（{why}）",
    },
    "nan_in": {"en": "NaN in {count}", "zh": "{count} 个 NaN"},
    "inf_in": {"en": "inf in {count}", "zh": "{count} 个 inf"},
    "and": {"en": " and ", "zh": "和"},
    "why_nan": {
        "en": "a square root of a negative number, or 0 / 0?",
        "zh": "是不是对负数开了平方根，或者算了 0 / 0？",
    },
    "why_inf": {"en": "a division by zero?", "zh": "是不是除以了零？"},
    # widgets
    "apply": {"en": "Apply", "zh": "应用"},
    "prompt": {"en": "prompt", "zh": "提示词"},
    "target": {"en": "target", "zh": "目标提示词"},
    "guidance": {"en": "guidance", "zh": "引导强度"},
    "method": {"en": "method", "zh": "方法"},
    "inversion": {"en": "inversion", "zh": "反转方法"},
    "cross_steps": {"en": "cross-attention steps", "zh": "交叉注意力步数"},
    "self_steps": {"en": "self-attention steps", "zh": "自注意力步数"},
    "blend_threshold": {"en": "blend threshold", "zh": "混合阈值"},
    "local_blend": {"en": "local blend", "zh": "局部混合"},
    "could_not": {"en": "could not {failing}: {message}", "zh": "无法{failing}：{message}"},
    # errors a learner meets most often
    "bad_start_step": {
        "en": "start_step must be in [0, {last}] for {n} steps, got {got}",
        "zh": "start_step 必须在 [0, {last}] 之内（共 {n} 步；0 表示从纯噪声开始，{last} 表示只走最后一步），"
        "收到的是 {got}",
    },
    "model_not_found": {
        "en": "could not load the model {model!r}: {reason}. Use load_pipeline('pocket') for the course's built-in "
        "model (works offline), pass a local diffusers folder, or check the model id and your connection.",
        "zh": "无法加载模型 {model!r}：{reason}。可以用 load_pipeline('pocket') 加载课程自带的小模型（离线可用），"
        "传入本地的 diffusers 文件夹，或检查模型 id 和网络连接。",
    },
    "image_not_found": {"en": "no such image file: {shown}{hint}", "zh": "找不到图片文件：{shown}{hint}"},
}
