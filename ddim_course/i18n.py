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
    if key not in MESSAGES:
        raise ValueError(f"no message {key!r}; the keys are those of ddim_course.i18n.MESSAGES")
    text = MESSAGES[key].get(get_language(), MESSAGES[key]["en"])
    try:
        return text.format(**values)
    except (KeyError, IndexError) as e:
        raise ValueError(f"message {key!r} needs the value {e.args[0]!r}: pass it as tr({key!r}, ...=...)") from None


MESSAGES: dict[str, dict[str, str]] = {
    # check results
    "PASS": {"en": "PASS", "zh": "通过"},
    "FAIL": {"en": "FAIL", "zh": "未通过"},
    "hint": {"en": "Hint: ", "zh": "提示："},
    "not_a_function": {
        "en": "the answer given is {what}, not a function: pass your function itself, by its name without (), "
        "e.g. check_psnr(my_psnr)",
        "zh": "给出的答案是 {what}，不是函数：请传入函数本身（只写函数名，不加括号），例如 check_psnr(my_psnr)",
    },
    "changed_torch": {
        "en": "{where}: your function changed torch itself ({name}); it has been put back. Compute with torch's "
        "functions, do not replace them",
        "zh": "{where}：你的函数修改了 torch 本身（{name}），现已恢复原样。请用 torch 的函数计算，不要替换它们",
    },
    "changed_torch_setting": {
        "en": "{where}: your function changed one of torch's settings ({name}); it has been put back. An answer "
        "must not change settings: they would stay changed for the rest of your session",
        "zh": "{where}：你的函数修改了 torch 的一项设置（{name}），现已恢复原样。答案不能修改设置："
        "否则在你之后的整个会话里它都会保持被改过的状态",
    },
    "not_half": {
        "en": "; that is half precision or less (16 bits or fewer), which rounds away the digits the check compares: "
        "compute in float32",
        "zh": "；这是半精度或更低（16 位或更少），会舍掉检查要比较的位数：请用 float32 计算",
    },
    "changed_code": {
        "en": "{where}: your function changed {name}, which the check itself runs on; it has been put back. An answer "
        "must not replace Python's or the course's own functions: the check would grade with the replacement",
        "zh": "{where}：你的函数修改了检查本身要用到的 {name}，现已恢复原样。答案不能替换 Python 或本课程自己的函数："
        "否则检查会用被替换的版本来评分",
    },
    "no_peeking": {
        "en": "{name} is closed to your function while a check runs: the check grades what your function computes, "
        "not what it reads from the check's own variables",
        "zh": "检查运行期间，你的函数不能使用 {name}：检查评的是你的函数算出的结果，"
        "而不是它从检查自己的变量里读到的东西",
    },
    "changed_while_checking": {
        "en": "{name} was changed while the check ran, after your function had returned (by a thread it started?); "
        "it has been put back. An answer must leave Python, torch and the course as they were",
        "zh": "检查运行期间、在你的函数返回之后，{name} 被修改了（是不是它启动的线程做的？），现已恢复原样。"
        "答案必须让 Python、torch 和本课程保持原样",
    },
    "changed_final_alpha": {
        "en": "your function changed final_alpha_cumprod in place (for example `a.copy_(...)` or `a += ...` on it): "
        "every later last step would use the changed value. Compute new tensors instead; the value has been put back",
        "zh": "你的函数原地修改了 final_alpha_cumprod（例如对它调用 `a.copy_(...)` 或 `a += ...`）："
        "之后每次的最后一步都会用到被改过的值。请改为计算新的张量；原来的数值已经恢复",
    },
    "still_running": {
        "en": "; it is still running in the background (it caught each request to stop, or is inside one long "
        "call): restart the kernel to end it now (Kernel > Restart Kernel)",
        "zh": "；它仍在后台运行（它捕获了每一次停止请求，或正处于一次很长的调用中）：请重启内核来立即结束它"
        "（Kernel > Restart Kernel）",
    },
    "check_inside_answer": {
        "en": "{check} was called inside a function that a check is grading, so it grades nothing; call each check "
        "once, in a cell of its own, outside your function",
        "zh": "{check} 在一个正被检查评分的函数内部被调用，所以它不评分；请在函数外、单独的单元格里调用每个检查一次",
    },
    "check_running": {
        "en": "{check} was not run: another check is running (in another thread); run one check at a time",
        "zh": "{check} 没有运行：另一个检查正在（另一个线程中）运行；请一次只运行一个检查",
    },
    "took_too_long_in_all": {
        "en": "{where}: your function's calls took over {limit} s together (each call should take well under a second)",
        "zh": "{where}：你的函数的各次调用合计超过 {limit} 秒（每次调用应远不到一秒）",
    },
    "output_cut": {
        "en": "\n... ({count} more characters printed by your function are not shown: only the first {limit})\n",
        "zh": "\n……（你的函数还打印了 {count} 个字符，未显示：只显示前 {limit} 个）\n",
    },
    "took_too_long": {
        "en": "{where}: your function took over {limit} s (an endless loop? or a slow first call, such as "
        "torch.compile's, which compiles before it runs)",
        "zh": "{where}：你的函数运行超过 {limit} 秒（是不是死循环？或者是很慢的第一次调用，"
        "比如 torch.compile 要先编译再运行）",
    },
    "changed_schedule": {
        "en": "your function changed alphas_cumprod in place (for example `a.sqrt_()` or `a **= 0.5` on "
        "alphas_cumprod[t], a view of it): every later step would use the changed values. Compute new tensors "
        "instead (`a.sqrt()`); the values have been put back",
        "zh": "你的函数原地修改了 alphas_cumprod（例如对 alphas_cumprod[t] 这个视图调用 `a.sqrt_()` 或 `a **= 0.5`）："
        "之后的每一步都会用到被改过的值。请改为计算新的张量（`a.sqrt()`）；原来的数值已经恢复",
    },
    "changed_input": {
        "en": "{where}: your function changed its input {name} in place (for example `x.mul_(...)`, `x += ...` or "
        "`list.reverse()`): the caller's {name} would be changed too. Compute a new tensor or list instead "
        "(`x * ...`, `x = x + ...`, `reversed(...)`)",
        "zh": "{where}：你的函数原地修改了输入 {name}（例如 `x.mul_(...)`、`x += ...` 或 `list.reverse()`）："
        "调用者的 {name} 也会被改掉。请改为计算新的张量或列表（`x * ...`、`x = x + ...`、`reversed(...)`）",
    },
    "raised": {
        "en": "{where}: your function raised {error}",
        "zh": "{where}：你的函数抛出了异常 {error}",
    },
    "not_plain_tensor": {
        "en": "{where}: {name} returned a {kind} tensor; return an ordinary tensor that holds its values",
        "zh": "{where}：{name}返回了 {kind} 张量；应返回一个保存实际数值的普通张量",
    },
    "returned": {"en": "{where}: {name} returned {what}", "zh": "{where}：{name}返回了 {what}"},
    "missing_return": {"en": " (a missing `return`?)", "zh": "（是不是漏了 `return`？）"},
    "return_want": {"en": "; return {want}", "zh": "；应返回{want}"},
    "want_number": {"en": "one number (a float)", "zh": "一个数（float）"},
    "want_tensor": {"en": "a torch tensor of shape {shape}", "zh": "形状为 {shape} 的 torch 张量"},
    "not_complex": {
        "en": "; return a real {kind}, not a complex one",
        "zh": "；应返回实数{kind}，而不是复数",
    },
    "kind_number": {"en": "number", "zh": "值"},
    "kind_tensor": {"en": "tensor", "zh": "张量"},
    "half_rounded": {
        "en": "every value of your answer is a float16 number, so it looks computed in half precision, which keeps "
        "about 3 digits (a .half() on the way, or a float16 tensor in the formula); compute in float32",
        "zh": "你的答案的每个值都恰好是一个 float16 数，所以看起来是用半精度算的，而半精度只保留约 3 位有效数字"
        "（中途用了 .half()，或公式里有 float16 张量）；请用 float32 计算",
    },
    "not_numpy": {
        "en": "; return a torch tensor, as the course's functions do: the model and the cells after this one take "
        "tensors (torch.from_numpy(array) makes one)",
        "zh": "；请像课程里的函数一样返回 torch 张量：模型和后面的单元格都需要张量"
        "（torch.from_numpy(array) 可以生成一个）",
    },
    "eps_model_tensor": {
        "en": "eps_model takes the latent as a torch tensor, got {what}: keep the latents torch tensors all the way "
        "through the loop",
        "zh": "eps_model 需要 torch 张量形式的隐变量，却收到了 {what}：在整个循环里都要让隐变量保持为 torch 张量",
    },
    "not_float": {
        "en": "; return floating point (e.g. torch.float32), not whole numbers or booleans",
        "zh": "；应返回浮点数（例如 torch.float32），而不是整数或布尔值",
    },
    "wrong_shape": {
        "en": "{where}: {name} returned a tensor of shape {shape}; return {want}",
        "zh": "{where}：{name}返回的张量形状为 {shape}；应返回{want}",
    },
    "not_finite_number": {
        "en": "{where}: {name} returned {value}; return a finite number",
        "zh": "{where}：{name}返回了 {value}；应返回有限的数",
    },
    "not_finite_values": {
        "en": "{where}: {name} returned {found} of {count} values ({why})",
        "zh": "{where}：{name}返回的 {count} 个值中有 {found}（{why}）",
    },
    "nan_in": {"en": "NaN in {count}", "zh": "{count} 个 NaN"},
    "inf_in": {"en": "inf in {count}", "zh": "{count} 个 inf"},
    "and": {"en": " and ", "zh": " 和 "},
    "unknown_word": {
        "en": "the pocket model never learned {shown}: it knows only the words of its captions, so the picture will "
        "not follow that word.",
        "zh": "口袋模型从未学过 {shown}：它只认识训练说明文字里的词，所以图像不会跟随这个词。",
    },
    "unknown_words": {
        "en": "the pocket model never learned {shown}: it knows only the words of its captions, so the picture will "
        "not follow those words.",
        "zh": "口袋模型从未学过 {shown}：它只认识训练说明文字里的词，所以图像不会跟随这些词。",
    },
    "did_you_mean": {"en": "; did you mean {what}?", "zh": "；你是不是想用 {what}？"},
    "did_you_mean_unspaced": {
        "en": "; did you mean {what} (without the spaces around it)?",
        "zh": "；你是不是想用 {what}（去掉两边的空格）？",
    },
    "what_tensor": {"en": "a {dtype} tensor", "zh": "一个 {dtype} 张量"},
    "what_numpy": {"en": "a numpy array", "zh": "一个 numpy 数组"},
    "what_a": {"en": "a {name}", "zh": "一个 {name}"},
    "why_nan": {
        "en": "a square root of a negative number, or 0 / 0?",
        "zh": "是不是对负数开了平方根，或者算了 0 / 0？",
    },
    "why_inf": {"en": "a division by zero?", "zh": "是不是除以了零？"},
    # the exercise checks (exercises.py): where a case is, what went wrong, hints. The names of the learner's
    # answers ("your", "your_step", "your_mask") fill the {name} of the messages above, whose Chinese puts no space
    # before 返回: "your" ends with one in Chinese, so that a code name stands apart from the Chinese after it.
    "your": {"en": "your {name}", "zh": "你的 {name} "},
    "your_step": {"en": "your step", "zh": "你的单步函数"},
    "your_mask": {"en": "your mask", "zh": "你的掩码"},
    "off_by": {"en": "off by up to {worst} {where}. ", "zh": "{where}最多偏差 {worst}。"},
    "looks_like": {"en": "it looks like {mistake}. ", "zh": "看起来{mistake}。"},
    "at_t": {"en": "at t={t}", "zh": "t={t} 时"},
    "add_noise_pass": {
        "en": "add_noise matches the formula at every t ({count} values of t, within {atol}).",
        "zh": "add_noise 在每个 t 上都与公式一致（共 {count} 个 t 值，误差不超过 {atol}）。",
    },
    "add_noise_no_sqrt": {
        "en": "a * x0 + (1 - a) * noise (no square roots)",
        "zh": "你算的是 a * x0 + (1 - a) * noise（没有开平方根）",
    },
    "add_noise_swapped": {"en": "the two scales swapped", "zh": "你把两个系数对调了"},
    "add_noise_formula": {
        "en": "x_t = sqrt(alpha_bar_t) * x0 + sqrt(1 - alpha_bar_t) * noise, with alpha_bar_t = alphas_cumprod[t].",
        "zh": "x_t = sqrt(alpha_bar_t) * x0 + sqrt(1 - alpha_bar_t) * noise，其中 alpha_bar_t = alphas_cumprod[t]。",
    },
    "at_step": {"en": "at t={t} -> {t_prev}", "zh": "在 t={t} -> {t_prev} 这一步"},
    "ddim_step_pass": {
        "en": "your DDIM step matches the reference at all {count} steps tried, the last one included (within {atol}).",
        "zh": "你的 DDIM 单步在试过的全部 {count} 步上都与参考实现一致，包括最后一步（误差不超过 {atol}）。",
    },
    "ddim_step_formula": {
        "en": "predict x0 = (x_t - sqrt(1 - a_t) * eps) / sqrt(a_t), then x_prev = sqrt(a_prev) * x0 + "
        "sqrt(1 - a_prev) * eps, with a = alphas_cumprod.",
        "zh": "先预测 x0 = (x_t - sqrt(1 - a_t) * eps) / sqrt(a_t)，再算 x_prev = sqrt(a_prev) * x0 + "
        "sqrt(1 - a_prev) * eps，其中 a = alphas_cumprod。",
    },
    "ddim_step_final": {
        "en": "the last step goes to t_prev < 0: use final_alpha_cumprod there instead of alphas_cumprod[t_prev] "
        "(a negative index reads from the end of the tensor!). ",
        "zh": "最后一步走到 t_prev < 0：这里要用 final_alpha_cumprod，而不是 alphas_cumprod[t_prev]"
        "（负索引会从张量的末尾取值！）。",
    },
    "for_start_step": {"en": "for start_step={s}", "zh": "start_step={s} 时"},
    "start_index_not_int": {
        "en": "{where}: return a whole number (an int), got {what}",
        "zh": "{where}：应返回整数（int），收到的是 {what}",
    },
    "start_index_out_of_range": {
        "en": "{where} you chose latents[{got}], but latents has {count} entries (0 to {n}).",
        "zh": "{where}你选了 latents[{got}]，但 latents 只有 {count} 项（0 到 {n}）。",
    },
    "start_index_that_is": {"en": ", i.e. latents[{index}]", "zh": "，即 latents[{index}]"},
    "start_index_off": {
        "en": "{where} you chose {chose} (off by {off}). ",
        "zh": "{where}你选了 {chose}（偏差 {off}）。",
    },
    "start_index_hint": {
        "en": "sampling from start_step s begins at timesteps[s], which the inversion reached after {n} - s steps. "
        "The original lesson's loop is off by one here.",
        "zh": "从 start_step s 开始采样，起点是 timesteps[s]，而反转要走 {n} - s 步才到达那里。"
        "原教程的循环在这里差了一位（off-by-one）。",
    },
    "start_index_pass": {
        "en": "right for every start_step tried: latents[{n} - start_step], which is what Inversion.latents_at does.",
        "zh": "试过的每个 start_step 都对：latents[{n} - start_step]，这正是 Inversion.latents_at 的做法。",
    },
    "for_n_steps": {"en": "for {n} steps", "zh": "{n} 步反转时"},
    "invert_one_latent": {
        "en": "{where}: your function returned one latent; return the whole trajectory, a list of {count} latents: "
        "the clean one first, then the latent after each step.",
        "zh": "{where}：你的函数只返回了一个隐变量；应返回整条轨迹，即 {count} 个隐变量组成的列表："
        "先是干净的隐变量，然后是每一步之后的隐变量。",
    },
    "invert_not_a_list": {
        "en": "{where}: your function returned {what}; return a list of {count} latents",
        "zh": "{where}：你的函数返回了 {what}；应返回 {count} 个隐变量组成的列表",
    },
    "invert_length": {
        "en": "{where}: your list has {got} latents, expected {count}. ",
        "zh": "{where}：你的列表有 {got} 个隐变量，应为 {count} 个。",
    },
    "invert_lesson_short": {
        "en": "{short} short: a loop that skips the first and the last step, as the original lesson's does, "
        "loses two. ",
        "zh": "少了 {short} 个：像原教程那样跳过第一步和最后一步的循环会丢掉两个。",
    },
    "invert_length_hint": {
        "en": "One latent before the loop (the clean one) and one after each of the {n} steps.",
        "zh": "循环之前一个（干净的隐变量），{n} 步中每一步之后各一个。",
    },
    "invert_off": {
        "en": "{where}: off by up to {worst} at latents[{at}]. ",
        "zh": "{where}：latents[{at}] 最多偏差 {worst}。",
    },
    "invert_hint_clean": {
        "en": "latents[0] is the clean latent x0 itself, unchanged.",
        "zh": "latents[0] 就是干净的隐变量 x0 本身，原样不动。",
    },
    "invert_hint_first": {
        "en": "the first step comes from the very end of sampling, whose noise level is final_alpha_cumprod (no "
        "timestep before the cleanest one: alphas_cumprod[t_prev] with t_prev < 0 reads from the end of the "
        "tensor).",
        "zh": "第一步从采样的最末端出发，那里的噪声水平是 final_alpha_cumprod（最干净的时间步之前没有别的时间步："
        "t_prev < 0 时 alphas_cumprod[t_prev] 会从张量的末尾取值）。",
    },
    "invert_hint_asked_at_from": {
        "en": "it looks like each step asks eps_model at the timestep it comes from. Inversion asks it at the timestep "
        "it goes to, t, with the latent it has: eps_model(latest latent, t) (notebook 03: its one approximation).",
        "zh": "看起来每一步都在它出发的时间步上调用 eps_model。反转是在它要去的时间步 t 上、用手头的隐变量调用："
        "eps_model(最新的隐变量, t)（第 03 课：这是它唯一的近似）。",
    },
    "invert_hint_loop": {
        "en": "go through the timesteps from the cleanest to the noisiest; at each t, ask eps_model(latest latent, t) "
        "(the timestep you go *to*: local linearity), then move the latest latent from the previous timestep's "
        "alpha_bar up to alphas_cumprod[t] with the DDIM update.",
        "zh": "按从最干净到噪声最大的顺序遍历时间步；在每个 t 上调用 eps_model(最新的隐变量, t)"
        "（用你要*去*的那个时间步：局部线性），再用 DDIM 更新把最新的隐变量从上一个时间步的 alpha_bar "
        "推到 alphas_cumprod[t]。",
    },
    "invert_pass": {
        "en": "your loop gives invert's trajectory at every step (10 and 4 steps, within {atol}): the model asked at "
        "the timestep you go to, with the latent you come from.",
        "zh": "你的循环在每一步都给出与 invert 相同的轨迹（10 步和 4 步，误差不超过 {atol}）："
        "在要去的时间步上、用出发处的隐变量调用模型。",
    },
    "for_noise": {"en": "for noise {scale}", "zh": "噪声强度为 {scale} 时"},
    "psnr_pass": {
        "en": "your PSNR matches ddim_course.psnr on every pair of images tried "
        "({count} image pairs, within {atol} dB).",
        "zh": "你的 PSNR 在试过的每一对图像上都与 ddim_course.psnr 一致（共 {count} 对图像，误差不超过 {atol} dB）。",
    },
    "psnr_off": {
        "en": "{where}: you got {got} dB, expected {expected} dB. ",
        "zh": "{where}：你得到 {got} dB，应为 {expected} dB。",
    },
    "psnr_formula": {
        "en": "PSNR = 10 * log10(1 / mean((a - b)**2)) for images in [0, 1].",
        "zh": "对取值在 [0, 1] 的图像，PSNR = 10 * log10(1 / mean((a - b)**2))。",
    },
    "for_abp": {"en": "for a={a}, b={b}, p={p}", "zh": "a={a}、b={b}、p={p} 时"},
    "edict_not_a_pair": {
        "en": "{where}: your function returned {what}; return two tensors: x, y",
        "zh": "{where}：你的函数返回了 {what}；应返回两个张量：x, y",
    },
    "edict_off": {
        "en": "{where}: off (x by up to {x}, y by up to {y}). ",
        "zh": "{where}：结果有偏差（x 最多偏差 {x}，y 最多偏差 {y}）。",
    },
    "edict_hint": {
        "en": "undo edict_step's four lines from the last to the first, each solved for the latent it overwrote; "
        "ask the model at the same latents the forward step asked it at (x_inter to recover y, then that y to "
        "recover x).",
        "zh": "从最后一行到第一行依次撤销 edict_step 的四行，每行都解出它覆盖掉的那个隐变量；"
        "在正向步骤调用模型时所用的同一批隐变量上调用模型（用 x_inter 恢复 y，再用这个 y 恢复 x）。",
    },
    "edict_swapped": {
        "en": "you returned y, x: return x first, then y.",
        "zh": "你返回的是 y, x：应先返回 x，再返回 y。",
    },
    "edict_pass": {
        "en": "your inverse undoes EDICT's step exactly (3 cases, within {atol}): the model is asked at the same "
        "latents both ways, so nothing is approximated.",
        "zh": "你的逆步骤精确地撤销了 EDICT 的一步（3 个用例，误差不超过 {atol}）：正反两个方向都在相同的隐变量上"
        "调用模型，所以没有任何近似。",
    },
    "for_threshold": {
        "en": "for threshold {threshold} and maps in [{low}, {high}]",
        "zh": "阈值为 {threshold}、注意力图取值在 [{low}, {high}] 时",
    },
    "blend_differ": {
        "en": "{where}: {wrong} of {count} mask values differ. ",
        "zh": "{where}：{count} 个掩码值中有 {wrong} 个不同。",
    },
    "blend_hint_stretch": {
        "en": "stretch each map to [0, 1]: subtract its minimum, then divide by (maximum - minimum).",
        "zh": "把每张图拉伸到 [0, 1]：先减去它的最小值，再除以 (最大值 - 最小值)。",
    },
    "blend_hint_max_only": {
        "en": "you divided by the maximum only; take the minimum off first (these maps never reach 0).",
        "zh": "你只除以了最大值；要先减去最小值（这些图的值从不降到 0）。",
    },
    "blend_hint_inverted": {
        "en": "your mask is inverted: 1 where the map is above the threshold.",
        "zh": "你的掩码反了：图中高于阈值的地方应为 1。",
    },
    "blend_pass": {
        "en": "your mask equals local blend's on all 3 cases: stretched to [0, 1], then thresholded.",
        "zh": "你的掩码在全部 3 个用例上都与局部混合的掩码相同：先拉伸到 [0, 1]，再按阈值二值化。",
    },
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
    # the pocket model's words
    "pocket_vocabulary": {
        "en": "The pocket model knows {n_colours} colours ({colours}), {n_shapes} shapes ({shapes}) and {n_patterns} "
        "background patterns ({patterns}), in prompts of the form 'a <colour> <shape> on a <pattern> background' "
        "(16 tokens at most); it never saw any other word in training.",
        "zh": "口袋模型只认识 {n_colours} 种颜色（{colours}）、{n_shapes} 种形状（{shapes}）和 {n_patterns} 种背景图案"
        "（{patterns}），提示词须写成英文 'a <colour> <shape> on a <pattern> background' 的形式（最多 16 个词元）；"
        "其他词它在训练中从未见过。",
    },
    # explorers: what they are doing, and what they show
    "w_note": {"en": "note: {message}", "zh": "注意：{message}"},
    "w_decoding": {"en": "decoding x_t at t = {t} ...", "zh": "正在解码 t = {t} 处的 x_t ..."},
    "w_show_xt": {"en": "show x_t at t = {t}", "zh": "显示 t = {t} 处的 x_t"},
    "w_schedule": {
        "en": "t = {t}: alpha_bar = {a}, signal scale sqrt(alpha_bar) = {signal}, "
        "noise scale sqrt(1 - alpha_bar) = {noise}",
        "zh": "t = {t}：alpha_bar = {a}，信号系数 sqrt(alpha_bar) = {signal}，噪声系数 sqrt(1 - alpha_bar) = {noise}",
    },
    "w_settings": {"en": "guidance {g}, eta {eta}", "zh": "引导强度 {g}，eta {eta}"},
    "w_sampling_with": {"en": "sampling with {settings} ...", "zh": "正在采样（{settings}）..."},
    "w_sample_with": {"en": "sample with {settings}", "zh": "采样（{settings}）"},
    "w_seed": {"en": "seed {seed}, {settings}", "zh": "随机种子 {seed}，{settings}"},
    "w_comparing": {
        "en": "reconstructing and running img2img from start_step {s} ...",
        "zh": "正在从 start_step {s} 重建并运行图生图 ...",
    },
    "w_compare": {"en": "compare at start_step {s}", "zh": "在 start_step {s} 处比较"},
    "w_compared": {
        "en": "start_step {s} (t = {t}): reconstruction {rec} dB, img2img {i2i} dB",
        "zh": "start_step {s}（t = {t}）：重建 {rec} dB，图生图 {i2i} dB",
    },
    "w_original": {"en": "original", "zh": "原图"},
    "w_from_inversion": {"en": "from the inversion", "zh": "从反转出发"},
    "w_img2img": {"en": "img2img (fresh noise)", "zh": "图生图（新噪声）"},
    "w_reconstruction": {"en": "reconstruction", "zh": "重建"},
    "w_edit": {"en": "edit", "zh": "编辑"},
    "w_prompt_swap": {"en": "prompt swap", "zh": "换提示词"},
    "w_p2p": {"en": "prompt-to-prompt", "zh": "prompt-to-prompt（注意力控制）"},
    "w_editing_to": {"en": "editing to {target} at guidance {g} ...", "zh": "正在以引导强度 {g} 编辑为 {target} ..."},
    "w_edit_to": {"en": "edit to {target}", "zh": "编辑为 {target}"},
    "w_characters": {"en": "{n} characters", "zh": "{n} 个字符"},
    "w_edited": {"en": "{target}, start_step {s}, guidance {g}", "zh": "{target}，start_step {s}，引导强度 {g}"},
    "w_sampling_at": {"en": "sampling at guidance {g} ...", "zh": "正在以引导强度 {g} 采样 ..."},
    "w_inverting_and": {"en": "inverting with {name} and {doing}", "zh": "正在用 {name} 反转，然后{doing}"},
    "w_show_method": {"en": "show {name} at guidance {g}", "zh": "显示 {name}（引导强度 {g}）"},
    "w_method_result": {
        "en": "{name} at guidance {g}: reconstruction {rec} dB; edit to {target} from start_step {s}",
        "zh": "{name}，引导强度 {g}：重建 {rec} dB；从 start_step {s} 编辑为 {target}",
    },
    "w_stored_path": {
        "en": " (exact by design: a direct inversion gives back the path it stored, so its reconstruction is the VAE's"
        " round trip; its edit here, without prompt-to-prompt, is DDIM's own: notebook 07 adds the attention control"
        " that direct inversion serves)",
        "zh": "（按设计即精确：直接反转返回它存下的轨迹，所以重建就是 VAE 的往返；这里没有 prompt-to-prompt，"
        "它的编辑与 DDIM 的完全相同：第 07 课加入直接反转所服务的注意力控制）",
    },
    "w_editing": {"en": "editing ...", "zh": "正在编辑 ..."},
    "w_inverting_then": {"en": "inverting with {name}, then {doing}", "zh": "正在用 {name} 反转，然后{doing}"},
    "w_edit_from": {"en": "edit from a {name} inversion", "zh": "从 {name} 反转出发编辑"},
    "w_blend_above": {"en": "blend above {t})", "zh": "混合阈值 {t}）"},
    "w_no_blend": {"en": "no blend)", "zh": "不混合）"},
    "w_p2p_result": {
        "en": "{name} inversion, guidance {g}: PSNR to the original (the edit lowers it, the kept picture raises it): "
        "prompt swap {swap} dB, prompt-to-prompt {p2p} dB (cross {c}, self {s}, {blend}",
        "zh": "{name} 反转，引导强度 {g}：与原图的 PSNR（编辑会降低它，保留下来的画面会提高它）：换提示词 {swap} dB，"
        "prompt-to-prompt {p2p} dB（交叉 {c}，自 {s}，{blend}",
    },
    # errors a learner meets most often
    "bad_start_step": {
        "en": "start_step must be in [0, {last}] for {n} steps, got {got}",
        "zh": "start_step 必须在 [0, {last}] 之内（共 {n} 步），收到的是 {got}",
    },
    "model_not_found": {
        "en": "could not load the model {model!r}: {reason}. Use load_pipeline('pocket') for the course's built-in "
        "model (works offline), pass a local diffusers folder, or check the model id and your connection.",
        "zh": "无法加载模型 {model!r}：{reason}。可以用 load_pipeline('pocket') 加载课程自带的小模型（离线可用），"
        "传入本地的 diffusers 文件夹，或检查模型 id 和网络连接。",
    },
    "image_not_found": {"en": "no such image file: {shown}{hint}", "zh": "找不到图片文件：{shown}{hint}"},
    "image_empty": {"en": "{name} is empty (0 bytes), not an image", "zh": "{name} 是空文件（0 字节），不是图片"},
    "image_unreadable": {
        "en": "{name} is not an image PIL can read (PNG, JPEG, WebP, ...)",
        "zh": "{name} 不是 PIL 能读取的图片（PNG、JPEG、WebP 等）",
    },
    "image_folder": {
        "en": "{shown} is a folder, not an image file; give the path of an image inside it",
        "zh": "{shown} 是一个文件夹，不是图片文件；请给出其中某张图片的路径",
    },
}
