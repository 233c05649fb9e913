"""The *why* of every walkthrough step, in English and Chinese: what v1 does (fact) and why (rationale).

One :class:`WhyEntry` per step name of the walkthrough (training through validation and prediction). Each
entry separates

* **fact**: what nnU-Net v1.7.1's code does, with its numbers (checked against the installed source), and
* **rationale**: why. Every rationale says whose reason it is: v1's own code comments, the nnU-Net paper
  (Isensee et al., "nnU-Net: a self-configuring method for deep learning-based biomedical image
  segmentation", Nature Methods 18, 2021), or, marked "our reading", the explorer's interpretation where
  the authors give no reason.

Pitfalls (traps when moving between the explorer, the seed blog and real v1) and errata (corrections of the
seed blog) are separate boxes. ``terms`` name :mod:`~nnunet_explorer.teaching.glossary` entries the card
links to. :func:`step_notes` turns an entry into the :class:`~nnunet_explorer.explore.notes.StepNotes` a
card renders, in the language of :func:`~nnunet_explorer.teaching.language.get_language`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..explore.notes import GlossaryLink, Note, StepNotes
from .glossary import term
from .language import pick

T = dict  # {"en": ..., "zh": ...}


@dataclass(frozen=True)
class WhyEntry:
    """The teaching text of one step; every text is a ``{"en": ..., "zh": ...}`` dict."""

    title: T
    fact: T
    rationale: T
    pitfalls: tuple[T, ...] = ()
    errata: tuple[T, ...] = ()
    terms: tuple[str, ...] = ()
    blog: str = ""  # the seed blog's section (see toc.BLOG_SECTIONS)
    v1_call: str = field(default="")  # the v1 call, for the table of contents


HEADINGS = {
    "why": {"en": "why", "zh": "为什么"},
    "fact": {"en": "fact (v1's code)", "zh": "事实(v1 代码)"},
    "rationale": {"en": "rationale", "zh": "理由"},
    "pitfall": {"en": "pitfall", "zh": "易错点"},
    "erratum": {"en": "erratum (the blog)", "zh": "勘误(原博客)"},
    "terms": {"en": "terms", "zh": "术语"},
}

_OVERSAMPLE_PITFALL = {
    "en": "\"33 % foreground\" is not what a batch of 2 gets. v1's rule (``get_do_oversample``) forces the samples "
          "with index >= ``round(batch_size * (1 - 0.33))``: at batch 2 that is ``round(1.34) = 1``, so 1 "
          "of 2 samples (50 %), the one with index 1, is forced; at batch 3 (the blog's KiTS19 plans) 1 of 3; at batch 4 1 of 4; at batch 5 2 of 5. It is always "
          "the last samples of the batch.",
    "zh": "“33 % 前景”并不是 batch 为 2 时得到的比例。v1 的规则(``get_do_oversample``)强制索引 >= "
          "``round(batch_size * (1 - 0.33))`` 的样本:batch 为 2 时是 ``round(1.34) = 1``,所以 2 个样本中有 1 个(50 %)"
          "被强制,即索引为 1 的第二个样本;batch 为 3(原博客的 KiTS19 plans)时是 3 个中的 1 个;batch 为 4 时是 4 个中的 1 个;batch 为 5 "
          "时是 5 个中的 2 个。被强制的总是 batch 中最后的那几个样本。",
}

_FOLD_PITFALL = {
    "en": "Fold >= 5 is not an error in v1: ``fold`` may be any integer from -5 up (-1 to -5 index the split "
          "list from its end: -1 is fold 4; -6 and below raise an IndexError). When it is not below the number of splits in ``splits_final.pkl`` "
          "(5 by default), v1 logs an INFO line and trains on a random 80:20 "
          "split drawn with ``np.random.RandomState(12345 + fold)`` over the sorted case names: every such fold "
          "is a different random split, not a cross-validation fold, and it is not written to "
          "``splits_final.pkl``.",
    "zh": "在 v1 中 fold >= 5 不是错误:``fold`` 可以是从 -5 起的任意整数(-1 到 -5 从划分列表的末尾往前数:-1 就是 fold 4;-6 及更小的值"
          "会引发 IndexError)。"
          "当它不小于 ``splits_final.pkl`` 中的划分数"
          "(默认 5)时,v1 打印一行 INFO,并用 ``np.random.RandomState(12345 + fold)`` 在排序后的病例名上随机"
          "划分 80:20 来训练:每个这样的 fold 都是不同的随机划分,而不是交叉验证的一折,也不会写入 "
          "``splits_final.pkl``。",
}

_CONTINUE_PITFALL = {
    "en": "``-c`` after changing ``max_num_epochs`` makes the learning rate jump: the poly rate depends on "
          "``max_num_epochs``, and V2's ``run_training`` sets ``lr = poly_lr(epoch, max_num_epochs)`` for the "
          "checkpoint's epoch before continuing. A run stopped at epoch 500 of 1000 trained with lr 0.00536; "
          "continued with ``max_num_epochs = 2000`` it restarts at 0.00772, with 600 at 0.00199.",
    "zh": "修改 ``max_num_epochs`` 后用 ``-c`` 继续训练,学习率会跳变:poly 学习率依赖 ``max_num_epochs``,V2 的 "
          "``run_training`` 在继续训练之前按检查点的 epoch 设置 ``lr = poly_lr(epoch, max_num_epochs)``。在 1000 "
          "个 epoch 中的第 500 个停下的训练,学习率为 0.00536;若以 ``max_num_epochs = 2000`` 继续,学习率从 "
          "0.00772 重新开始,若改为 600,则从 0.00199 开始。",
}

_RESUME_ORDER_PITFALL = {
    "en": "``-c`` loads ``model_final_checkpoint.model`` whenever it exists, before ``model_latest.model`` (v1's "
          "``load_latest_checkpoint``), whatever their epochs. A finished run leaves its final checkpoint; a later "
          "run in the same folder (started over, or resumed with a larger ``max_num_epochs`` and stopped) writes a "
          "newer ``model_latest.model`` but replaces the final checkpoint only when it finishes, so ``-c`` goes back "
          "to the old final checkpoint and the later epochs are lost. Move ``model_final_checkpoint.model`` (and its "
          "``.pkl``) away first; the explorer's ``train -c`` warns, and ``inspect`` flags it "
          "(``resume_skips_latest``).",
    "zh": "只要 ``model_final_checkpoint.model`` 存在,``-c`` 就先加载它,而不是 ``model_latest.model``(v1 的 "
          "``load_latest_checkpoint``),不管两者各是第几个 epoch。训练结束时留下最终检查点;之后在同一文件夹里的训练"
          "(从头开始,或加大 ``max_num_epochs`` 继续后又停下)写出更新的 ``model_latest.model``,但要到它结束时才替换"
          "最终检查点,所以 ``-c`` 会回到旧的最终检查点,之后的 epoch 就丢了。先把 ``model_final_checkpoint.model``"
          "(连同它的 ``.pkl``)移走;explorer 的 ``train -c`` 会给出警告,``inspect`` 也会标出来"
          "(``resume_skips_latest``)。",
}

_CLASS_ATTRIBUTE_PITFALL = {
    "en": "Class-attribute overrides do nothing in v1. ``class MyTrainer(nnUNetTrainerV2): max_num_epochs = 50`` is "
          "silently ignored, because ``nnUNetTrainerV2.__init__`` assigns ``self.max_num_epochs = 1000`` and "
          "``self.initial_lr = 1e-2`` on the instance, which hides the class attribute. Set hyperparameters in "
          "``__init__`` after ``super().__init__(...)``, as v1's own trainer variants do. The explorer trains such a "
          "class exactly as v1 does (the value ignored) and says so when the class is defined (a "
          "``V1IgnoresWarning``) and in the provenance table.",
    "zh": "在 v1 中,用类属性覆盖超参数不起作用。``class MyTrainer(nnUNetTrainerV2): max_num_epochs = 50`` 会被悄悄"
          "忽略,因为 ``nnUNetTrainerV2.__init__`` 在实例上赋值 ``self.max_num_epochs = 1000`` 和 "
          "``self.initial_lr = 1e-2``,实例属性遮住了类属性。应当在 ``__init__`` 里、``super().__init__(...)`` 之后设置"
          "超参数,v1 自带的各种 trainer 变体都是这样做的。本 explorer 训练这样的类时与 v1 完全相同(该值被忽略),"
          "并在定义类时(``V1IgnoresWarning``)和来源表中指出这一点。",
}

_LITERAL_PITFALL = {
    "en": "Some of V2's numbers are not attributes at all: momentum 0.99 and Nesterov are literals in "
          "``initialize_optimizer_and_scheduler``, the gradient clip 12 in ``run_iteration``, the poly exponent 0.9 "
          "in ``maybe_update_lr``. ``self.momentum = 0.9`` in your ``__init__`` changes nothing (in v1 and here); "
          "override the method that holds the literal, as v1's ``nnUNetTrainerV2_momentum09`` does. Likewise "
          "``self.batch_size = 4`` in ``__init__`` is overwritten by ``process_plans`` during ``initialize``: "
          "override ``process_plans`` and set it after ``super()``. The explorer names both cases when the class "
          "is defined.",
    "zh": "V2 的一些数值根本不是属性:动量 0.99 和 Nesterov 是 ``initialize_optimizer_and_scheduler`` 中的字面量,"
          "梯度裁剪阈值 12 在 ``run_iteration`` 中,poly 指数 0.9 在 ``maybe_update_lr`` 中。在你的 ``__init__`` 里写 "
          "``self.momentum = 0.9`` 不会改变任何东西(v1 中和这里都是如此);应当像 v1 的 "
          "``nnUNetTrainerV2_momentum09`` 那样重写包含该字面量的方法。同样,``__init__`` 中的 ``self.batch_size = 4`` "
          "会在 ``initialize`` 期间被 ``process_plans`` 覆盖:应重写 ``process_plans``,在 ``super()`` 之后设置它。"
          "本 explorer 在定义类时会指出这两种情况。",
}

WHY: dict[str, WhyEntry] = {
    # ---------------------------------------------------------------------------- 3 设置训练参数
    "parsed_arguments": WhyEntry(
        title={"en": "the command line", "zh": "命令行参数"},
        fact={"en": "``run_training.py`` takes 4 positional arguments (network, trainer, task, fold) and 16 "
                    "flags. The fold stays the string 'all' or goes through ``int()``, so any integer is accepted. "
                    "Mixed precision is on unless ``--fp32`` is given, and ``--val_disable_overwrite`` is a "
                    "``store_false`` flag: its value is True unless you give it.",
              "zh": "``run_training.py`` 接受 4 个位置参数(network、trainer、task、fold)和 16 个可选参数。fold "
                    "要么保持字符串 'all',要么经过 ``int()``,所以任何整数都被接受。除非给出 ``--fp32``,否则默认"
                    "使用混合精度;``--val_disable_overwrite`` 是 ``store_false``:不给出它时其值为 True。"},
        rationale={"en": "nnU-Net is self-configuring (paper): the data-dependent choices live in the plans and "
                         "the fixed ones in the trainer class, so the command line only chooses which "
                         "configuration, which trainer and which fold to train. v1 has no flag for the learning rate "
                         "or the number of epochs; you change those by writing a trainer subclass.",
                   "zh": "nnU-Net 是自配置的(论文):依赖数据的选择在 plans 中,固定的选择在 trainer 类中,所以命令行"
                         "只决定训练哪个配置、哪个 trainer、哪一折。v1 的命令行没有学习率或 epoch 数的参数;要修改"
                         "它们,需要写一个 trainer 子类。"},
        pitfalls=(_FOLD_PITFALL,),
        terms=("fold", "plans"),
        blog="3", v1_call="run_training.main: argparse"),
    "task_name": WhyEntry(
        title={"en": "task id to task name", "zh": "任务编号转任务名"},
        fact={"en": "A value starting with ``Task`` is used as is. Anything else goes through ``int()`` and "
                    "``convert_id_to_task_name``, which lists the folders whose names start with ``Task%03d`` "
                    "(``Task040`` for 40) in the preprocessed, raw, cropped and results folders; exactly one "
                    "distinct name may turn up, else v1 raises an error.",
              "zh": "以 ``Task`` 开头的值原样使用。其他值经过 ``int()`` 和 ``convert_id_to_task_name``:它在 "
                    "preprocessed、raw、cropped 和 results 文件夹中列出名字以 ``Task%03d`` 开头的文件夹(40 对应 "
                    "``Task040``);必须恰好找到一个不同的名字,否则 v1 报错。"},
        rationale={"en": "A convenience (our reading): an id is shorter to type than ``Task040_KiTS``, and "
                         "searching every nnU-Net folder lets the id work at any point of the workflow, before or "
                         "after preprocessing. Requiring one distinct name prevents training on the wrong task "
                         "when two tasks share an id.",
                   "zh": "这是为了方便(我们的理解):编号比 ``Task040_KiTS`` 更短;在所有 nnU-Net 文件夹中查找,使编号"
                         "在流程的任何阶段(预处理之前或之后)都能用。要求名字唯一,可以避免两个任务共用一个编号时"
                         "训练了错误的任务。"},
        blog="3", v1_call="convert_id_to_task_name"),
    # ---------------------------------------------------------------------- 4 get_default_configuration
    "configuration": WhyEntry(
        title={"en": "the default configuration", "zh": "默认配置"},
        fact={"en": "2d reads the ``_plans_2D.pkl``, every 3D network the ``_plans_3D.pkl``. 2d and 3d_lowres "
                    "train on stage 0, 3d_fullres and 3d_cascade_fullres on the last stage. ``batch_dice`` is "
                    "True for 2d and for the full-resolution networks of two-stage plans, False for 3d_lowres and "
                    "for 3d_fullres on one-stage plans (v1 prints \"I am using sample dice + CE loss\").",
              "zh": "2d 读取 ``_plans_2D.pkl``,所有 3D 网络读取 ``_plans_3D.pkl``。2d 和 3d_lowres 在 stage 0 上训练,"
                    "3d_fullres 和 3d_cascade_fullres 在最后一个 stage 上训练。``batch_dice`` 对 2d 和两阶段 plans "
                    "的全分辨率网络为 True,对 3d_lowres 和单阶段 plans 的 3d_fullres 为 False(v1 打印 "
                    "\"I am using sample dice + CE loss\")。"},
        rationale={"en": "v1's code gives no reason for the ``batch_dice`` rule. Our reading: batch Dice pools the "
                         "voxels of the whole batch, so a sample that lacks a class does not produce its own "
                         "unstable Dice term. That matters for 2D slices and for the full-resolution patches of "
                         "large images, which often miss a class. A 3d_fullres patch of one-stage plans covers a "
                         "large part of the case, so each sample usually holds every class and per-sample Dice "
                         "is well defined.",
                   "zh": "v1 的代码没有说明 ``batch_dice`` 规则的理由。我们的理解:批 Dice 把整个 batch 的体素合在一起,"
                         "缺少某个类别的样本就不会单独产生一个不稳定的 Dice 项。这对 2D 切片和大图像的全分辨率 patch "
                         "很重要,因为它们经常缺少某个类别。单阶段 plans 的 3d_fullres patch 覆盖了病例的很大一部分,"
                         "每个样本通常包含所有类别,逐样本的 Dice 定义良好。"},
        terms=("sample-dice", "stage", "plans", "cascade"),
        blog="4", v1_call="get_default_configuration"),
    "trainer_class": WhyEntry(
        title={"en": "the trainer class", "zh": "trainer 类"},
        fact={"en": "v1's ``get_default_configuration`` calls ``recursive_find_python_class([nnunet/training/"
                    "network_training], name, current_module=\"nnunet.training.network_training\")``. It lists the "
                    "folder with ``pkgutil.iter_modules`` (sorted by name), imports its plain modules one by one "
                    "and stops at the first that has an attribute of that name; only if none has it does it go "
                    "into the sub-packages, in the same order, searching each the same way. It returns the class "
                    "itself, or None (then ``run_training`` raises \"Could not find trainer class\"). In v1 1.7.1 "
                    "the folder holds 8 plain modules and the sub-packages ``competitions_with_custom_Trainers`` and "
                    "``nnUNet_variants``: the search for nnUNetTrainerV2 imports network_trainer, nnUNetTrainer, "
                    "nnUNetTrainerCascadeFullRes, nnUNetTrainerV2 and finds it there; a variant such as "
                    "nnUNetTrainerV2_momentum09 is found at import 77, an unknown name gives None after all 83 "
                    "modules. ``run_training`` then asserts the class is an ``nnUNetTrainer`` (for "
                    "3d_cascade_fullres: an ``nnUNetTrainerCascadeFullRes`` or ``nnUNetTrainerV2CascadeFullRes``). The "
                    "explorer's mirror of the folder (``nnunet_explorer.v1.training.network_training``) holds 5 of "
                    "the 8 plain modules (not nnUNetTrainerCascadeFullRes, nnUNetTrainerV2_DP, "
                    "nnUNetTrainerV2_fp32) and, in ``nnUNet_variants``, only your ``--trainer_file`` files; the "
                    "card runs v1's search over it. nnUNetTrainerV2's MRO is nnUNetTrainerV2 -> nnUNetTrainer -> "
                    "NetworkTrainer.",
              "zh": "v1 的 ``get_default_configuration`` 调用 ``recursive_find_python_class([nnunet/training/"
                    "network_training], name, current_module=\"nnunet.training.network_training\")``。它用 "
                    "``pkgutil.iter_modules`` 列出文件夹(按名字排序),逐个导入其中的普通模块,遇到第一个含有该名字"
                    "属性的模块就停止;只有都没有时,才按同样的顺序进入子包,在每个子包里按同样的规则查找。它返回类"
                    "本身,或者 None(此时 ``run_training`` 报错 \"Could not find trainer class\")。在 v1 1.7.1 中,"
                    "这个文件夹有 8 个普通模块和两个子包 ``competitions_with_custom_Trainers``、``nnUNet_variants``:"
                    "查找 nnUNetTrainerV2 时依次导入 network_trainer、nnUNetTrainer、nnUNetTrainerCascadeFullRes、"
                    "nnUNetTrainerV2,并在最后一个里找到;像 nnUNetTrainerV2_momentum09 这样的变体要到第 77 次导入"
                    "才找到,不存在的名字要导入全部 83 个模块后才返回 None。随后 ``run_training`` 断言这个类是 "
                    "``nnUNetTrainer``(3d_cascade_fullres 时是 ``nnUNetTrainerCascadeFullRes`` 或 "
                    "``nnUNetTrainerV2CascadeFullRes``)。explorer 对这个文件夹的镜像"
                    "(``nnunet_explorer.v1.training.network_training``)只有 8 个普通模块中的 5 个(没有 "
                    "nnUNetTrainerCascadeFullRes、nnUNetTrainerV2_DP、nnUNetTrainerV2_fp32),它的 ``nnUNet_variants`` "
                    "里只有你用 ``--trainer_file`` 加载的文件;卡片在这个镜像上运行 v1 的查找。nnUNetTrainerV2 的 MRO "
                    "是 nnUNetTrainerV2 -> nnUNetTrainer -> NetworkTrainer。"},
        rationale={"en": "Finding the class by name means a variant is a new file with a subclass, without any "
                         "registration (v1's design; its repository holds dozens of such variants). Each level "
                         "of the hierarchy adds one layer: NetworkTrainer the generic loop, nnUNetTrainer the "
                         "plans and data, V2 the recipe of the paper (SGD + poly LR, deep supervision, moreDA).",
                   "zh": "按名字查找类,意味着一个变体只需新建一个包含子类的文件,无需注册(v1 的设计;它的仓库里有几十个"
                         "这样的变体)。继承层次的每一层各加一部分:NetworkTrainer 是通用训练循环,nnUNetTrainer 负责 "
                         "plans 和数据,V2 是论文中的配方(SGD + poly 学习率、深度监督、moreDA)。"},
        pitfalls=({"en": "Two files that define a class of the same name: v1 takes the first in its search order "
                         "(a top-level module before anything in ``nnUNet_variants``; within a folder, file names "
                         "sorted, upper case before lower case) and says nothing about the other. A module that "
                         "only imports a class also has its name, so it can be where the search stops.",
                   "zh": "两个文件定义了同名的类:v1 取查找顺序中的第一个(顶层模块先于 ``nnUNet_variants`` 中的任何"
                         "文件;同一文件夹内按文件名排序,大写字母排在小写字母之前),对另一个只字不提。一个只是导入了"
                         "某个类的模块也拥有这个名字,查找可能就停在那里。"},),
        errata=({"en": "The blog gives the return value as 'nnUNetTrainerV2' (\"返回值: 'nnUNetTrainerV2'\"). "
                       "``recursive_find_python_class`` returns the class object, ``<class "
                       "'nnunet.training.network_training.nnUNetTrainerV2.nnUNetTrainerV2'>``, not its name as a "
                       "string (or None when no module has the name); ``run_training`` calls that class to build "
                       "the trainer: ``trainer = trainer_class(plans_file, fold, ...)``.",
                 "zh": "原博客把返回值写成 'nnUNetTrainerV2'(“返回值: 'nnUNetTrainerV2'”)。"
                       "``recursive_find_python_class`` 返回的是类对象 ``<class "
                       "'nnunet.training.network_training.nnUNetTrainerV2.nnUNetTrainerV2'>``,而不是类名字符串"
                       "(没有模块含有这个名字时返回 None);``run_training`` 调用这个类来构造 trainer,即"
                       "``trainer = trainer_class(plans_file, fold, ...)``。"},),
        terms=("mro",),
        blog="4", v1_call="recursive_find_python_class"),
    # ------------------------------------------------------------------------- 5 trainer / initialize
    "trainer": WhyEntry(
        title={"en": "the trainer and its hyperparameters", "zh": "trainer 及其超参数"},
        fact={"en": "Each ``__init__`` of the MRO assigns its values: NetworkTrainer 1000 epochs of 250 training "
                    "and 50 validation batches, patience 50, a checkpoint every 50 epochs; nnUNetTrainer "
                    "``initial_lr = 3e-4``, ``weight_decay = 3e-5``, ``oversample_foreground_percent = 0.33``; "
                    "nnUNetTrainerV2 then sets ``max_num_epochs = 1000`` and ``initial_lr = 1e-2`` again. The "
                    "last assignment wins.",
              "zh": "MRO 中每个 ``__init__`` 都赋自己的值:NetworkTrainer 设定 1000 个 epoch,每个 epoch 250 个训练 "
                    "batch 和 50 个验证 batch,patience 50,每 50 个 epoch 一个检查点;nnUNetTrainer 设定 "
                    "``initial_lr = 3e-4``、``weight_decay = 3e-5``、``oversample_foreground_percent = 0.33``;"
                    "nnUNetTrainerV2 再次设定 ``max_num_epochs = 1000`` 和 ``initial_lr = 1e-2``。最后一次赋值生效。"},
        rationale={"en": "The paper fixes these values for every dataset (its \"fixed parameters\"): one recipe, "
                         "tuned once by the authors on many datasets, instead of a search per dataset. Our reading: "
                         "a fixed budget of 1000 x 250 = 250,000 iterations makes training time predictable and "
                         "needs no validation-based stopping rule.",
                   "zh": "论文对所有数据集固定这些值(论文中的 \"fixed parameters\"):作者在许多数据集上调好一次的同一"
                         "配方,而不是针对每个数据集搜索。我们的理解:固定的 1000 x 250 = 250,000 次迭代让训练时间"
                         "可以预估,也不需要基于验证集的停止规则。"},
        pitfalls=(_CLASS_ATTRIBUTE_PITFALL, _LITERAL_PITFALL),
        terms=("mro", "epoch"),
        blog="5", v1_call="nnUNetTrainerV2.__init__"),
    "initialize": WhyEntry(
        title={"en": "initialize: the run is set up", "zh": "initialize:搭建训练"},
        fact={"en": "``run_training.py`` calls ``trainer.initialize(not validation_only)`` once. V2's ``initialize``: "
                    "``load_plans_file``, ``process_plans``, ``setup_DA_params``, the deep-supervision weights and "
                    "``self.loss = MultipleOutputLoss2(self.loss, self.ds_loss_weights)``, then (training only) "
                    "``get_basic_generators`` (``load_dataset``, ``do_split``, the two DataLoaders), unpacking "
                    "``.npz`` to ``.npy``, ``get_moreDA_augmentation`` (``tr_gen``, ``val_gen``), and finally "
                    "``initialize_network`` and ``initialize_optimizer_and_scheduler``. A second call does nothing "
                    "(``was_initialized``). The card lists every call as it happened and the attributes it set.",
              "zh": "``run_training.py`` 只调用一次 ``trainer.initialize(not validation_only)``。V2 的 ``initialize``:"
                    "``load_plans_file``、``process_plans``、``setup_DA_params``,深度监督权重和 "
                    "``self.loss = MultipleOutputLoss2(self.loss, self.ds_loss_weights)``,然后(仅训练时)"
                    "``get_basic_generators``(``load_dataset``、``do_split``、两个 DataLoader)、把 ``.npz`` 解压为 "
                    "``.npy``、``get_moreDA_augmentation``(``tr_gen``、``val_gen``),最后是 ``initialize_network`` 和 "
                    "``initialize_optimizer_and_scheduler``。第二次调用什么也不做(``was_initialized``)。本卡片按实际"
                    "发生的顺序列出每一次调用以及它设置的属性。"},
        rationale={"en": "v1's design: the constructor sets what does not depend on the plans (the hyperparameters "
                         "kept as attributes, such as ``max_num_epochs`` and ``initial_lr``, the seed, the loss, the "
                         "output folder; momentum, Nesterov, the clipping norm and the poly exponent are literals in "
                         "the methods that use them), ``initialize`` builds everything that does; ``nnUNetTrainer.initialize``'s docstring: with ``training=False`` no training "
                         "data is loaded, for prediction only (no data loaders). Our reading: the order "
                         "matters when you override a method: ``process_plans`` runs before ``setup_DA_params``, "
                         "which runs before the loaders (their patch size comes from it), and the network is built "
                         "last, after the loss.",
                   "zh": "v1 的设计:构造函数设置与 plans 无关的内容(作为属性的超参数,如 ``max_num_epochs``、"
                         "``initial_lr``,以及随机种子、损失函数、输出文件夹;动量、Nesterov、梯度裁剪范数和 poly "
                         "指数是使用它们的方法里的字面量),"
                         "``initialize`` 搭建依赖 plans 的一切;``nnUNetTrainer.initialize`` 的 docstring:``training=False`` "
                         "时不加载训练数据,只用于预测(不创建数据加载器)。我们的"
                         "理解:当你重写某个方法时,顺序很重要:``process_plans`` 在 ``setup_DA_params`` 之前运行,后者又在"
                         "数据加载器之前运行(加载器的 patch 大小来自它),网络在损失函数之后最后构建。"},
        pitfalls=(_LITERAL_PITFALL,),
        terms=("plans", "ds", "moreda"),
        blog="5", v1_call="nnUNetTrainerV2.initialize"),
    "plans_processed": WhyEntry(
        title={"en": "the plans, processed", "zh": "处理后的 plans"},
        fact={"en": "``process_plans`` reads the stage's patch size, batch size and kernels; ``num_classes`` is "
                    "the plans' value + 1 (background). The 3D planner chose the patch by starting from a box of the "
                    "same length in mm on every axis, 512 voxels along the coarsest axis (v1's comment says 512 mm, "
                    "true only at 1 mm spacing), clipped to the median case, and shrinking it until the VRAM proxy "
                    "fits the reference; the batch is ``floor(max(ref / vram, 1) * 2)``, so at least 2, and at most "
                    "``round(0.05 * dataset voxels / patch voxels)`` (but never capped below 2). The 2D planner starts "
                    "from the median case's in-plane shape instead, with its own reference, and caps its batch, "
                    "``floor(ref / vram) * 2``, at the same 5 % down to 1. Training uses "
                    "whatever the plans file holds, and a plans file can be edited: on a run's card the notes below "
                    "apply these rules to that run's plans and flag every value v1's planner would not have chosen.",
              "zh": "``process_plans`` 读取该 stage 的 patch 大小、batch 大小和卷积核;``num_classes`` 是 plans 中的值 "
                    "+ 1(背景)。3D 规划器选择 patch 的方式:从一个各轴物理长度(mm)相同、在最粗间距的轴上为 512 个体素的"
                    "盒子开始(v1 的注释说 512 mm,只在 1 mm 间距时成立),裁剪到病例的中位尺寸,"
                    "再不断缩小,直到显存代理量低于参考值;batch 为 ``floor(max(ref / vram, 1) * 2)``,所以至少为 2,"
                    "且最多为 ``round(0.05 * 数据集体素数 / patch 体素数)``(但这个上限不会低于 2)。2D 规划器则从中位病例的"
                    "平面内尺寸开始,使用它自己的参考值,它的 batch ``floor(ref / vram) * 2`` 同样以 5 % 为上限,最低可到 1。"
                    "训练使用的是 plans "
                    "文件里存储的值,而 plans 文件可以被修改:在一次运行的卡片上,下面的说明会把这些规则用在该次运行的 plans "
                    "上,并标出 v1 的规划器不会选择的每一个值。"},
        rationale={"en": "The paper prefers a large patch over a large batch: the patch is shrunk only as far as "
                         "a batch of 2 needs, because context (seeing the whole organ and its neighbours) helps "
                         "segmentation more than more samples per step. v1's comment on the cap: all samples of "
                         "the batch together may not cover more than 5 % of the dataset. Our reading: on a small "
                         "dataset a large batch would show nearly the same data at every step and invite "
                         "overfitting; the noise of small batches is kept.",
                   "zh": "论文更看重大的 patch 而不是大的 batch:patch 只缩小到能放下 batch 为 2 为止,因为上下文(看到"
                         "整个器官及其周围)比每步更多的样本更有助于分割。v1 对上限的注释:一个 batch 的所有样本合起来"
                         "不能覆盖超过数据集的 5 %。我们的理解:在小数据集上,大 batch 每一步看到的几乎是同样的数据,"
                         "容易过拟合;这样保留了小 batch 的噪声。"},
        terms=("patch", "vram-proxy", "stage", "plans", "dummy-2d", "data-identifier"),
        blog="5", v1_call="nnUNetTrainer.process_plans"),
    "augmentation_parameters": WhyEntry(
        title={"en": "augmentation parameters", "zh": "数据增强参数"},
        fact={"en": "V2 in 3D rotates up to ±30° about each axis, scales by (0.7, 1.4), switches elastic "
                    "deformation off and mirrors along all axes; with ``do_dummy_2D_aug`` it rotates and scales "
                    "in-plane only (±180°), and still mirrors along all axes. The loader patch "
                    "(``basic_generator_patch_size``) is computed with the scale range (0.85, 1.25) before the "
                    "range is widened.",
              "zh": "V2 在 3D 中绕每个轴最多旋转 ±30°,缩放 (0.7, 1.4),关闭弹性形变,并沿所有轴镜像;在 "
                    "``do_dummy_2D_aug`` 时只在平面内旋转(±180°)和缩放,镜像仍沿所有轴进行。加载器的 patch(``basic_generator_patch_size``)"
                    "在缩放范围被放宽之前用 (0.85, 1.25) 计算。"},
        rationale={"en": "Medical datasets are small, and the paper applies a fixed, strong augmentation on the "
                         "fly to every dataset. The larger loader patch is a margin (v1's comment: to reduce "
                         "border artifacts), sized for a rotation about one axis at a time and a zoom-out by 1/0.85 ≈ "
                         "1.18; rotations about several axes at once, and V2's zoom-out up to 1.4 (set only after the "
                         "size is computed), can reach past it, where the image is 0 and the label -1 (at 1.4 and ±30° "
                         "about every axis 12-15 % of the patch, 14.9 % for the blog's 80×160×160; fact of the "
                         "code). Dummy 2D: "
                         "rotating across thick slices would interpolate between voxels millimetres apart (our "
                         "reading of the anisotropy rule).",
                   "zh": "医学数据集很小,论文对每个数据集都在线使用一套固定而较强的数据增强。加载器切出更大的 patch,"
                         "是一个余量(v1 的注释:减少边界伪影),按一次只绕一个轴旋转、缩小 1/0.85 ≈ 1.18 计算;同时绕几个轴"
                         "旋转,以及 V2 最大 1.4 的缩小(在算完大小之后才设置),都可能超出它,那里图像为 0、标签为 -1(在 1.4 "
                         "且绕每个轴 ±30° 时占 patch 的 12-15%,原博客的 80×160×160 为 14.9%;代码事实)。伪 2D:跨越很厚的层去旋转,"
                         "会在相距几毫米的体素之间插值(我们对各向异性规则的理解)。"},
        terms=("moreda", "dummy-2d", "patch"),
        blog="5", v1_call="nnUNetTrainerV2.setup_DA_params"),
    "deep_supervision": WhyEntry(
        title={"en": "deep-supervision weights", "zh": "深度监督权重"},
        fact={"en": "One output per decoder level (5 for KiTS19). Weights ``1/2**i``, the coarsest set to 0, "
                    "normalised to sum 1: KiTS19 0.5333, 0.2667, 0.1333, 0.0667, 0; the demo's 3 outputs 0.667, "
                    "0.333, 0. v1's comment says \"we don't use the lowest 2 outputs\", but the mask zeroes only "
                    "one output: the other \"lowest\" resolution is the bottleneck, which has no output at all.",
              "zh": "每个解码器层一个输出(KiTS19 有 5 个)。权重为 ``1/2**i``,最粗的置 0,再归一化使其和为 1:KiTS19 "
                    "为 0.5333、0.2667、0.1333、0.0667、0;演示任务的 3 个输出为 0.667、0.333、0。v1 的注释说"
                    "“我们不使用最低的 2 个输出”,但掩码只把一个输出置 0:另一个“最低”分辨率是瓶颈层,它根本没有输出。"},
        rationale={"en": "v1's comment: the weights halve with resolution to give the higher-resolution outputs "
                         "more weight in the loss. The paper describes auxiliary losses at all but the two lowest "
                         "resolutions, which matches the code once the bottleneck is counted. Our reading: deep supervision sends gradient straight into the deeper "
                         "decoder levels; the coarsest map (5x10x10 for the blog's KiTS19 patch) and its nearest-neighbour target "
                         "are too crude to teach anything useful, so it is computed but not trained.",
                   "zh": "v1 的注释:权重随分辨率减半,使高分辨率的输出在损失中占更大比重。论文在除最低两个分辨率以外的"
                         "所有分辨率上加辅助损失,把瓶颈层算进去就与代码一致。我们的理解:深度监督把梯度直接送到较深的解码器层;最粗的输出(原博客的 KiTS19 patch 为 "
                         "5x10x10)及其最近邻下采样的目标太粗糙,学不到有用的东西,所以它被计算但不参与训练。"},
        pitfalls=({"en": "The smallest target can show an empty slice where the full-resolution target has "
                         "foreground. v1 makes the targets with ``downsample_seg_for_ds_transform2`` at order 0 "
                         "(nearest neighbour, no anti-aliasing): a voxel of a target downsampled 16 times in-plane is "
                         "one voxel of the full-resolution label, the one at the middle of its 16x16 block, and "
                         "nothing else in the block counts. A structure narrower than the block (a small tumour, a "
                         "thin rim) that misses those voxels vanishes from the coarse target. A coarse target's "
                         "middle slice is also another plane: slice k of a target downsampled 8 times along z is "
                         "full-resolution slice 8k + 4, so the middle of its 10 slices is slice 44 of 80, not 40. "
                         "In V2 the smallest target belongs to the output of weight 0, so it trains nothing.",
                   "zh": "在全分辨率目标有前景的地方,最小的目标可能显示一张空切片。v1 用 "
                         "``downsample_seg_for_ds_transform2`` 以 order 0(最近邻,不做抗混叠)生成目标:平面内缩小 16 "
                         "倍的目标中,一个体素就是全分辨率标签中的一个体素,即它所在 16x16 块正中的那个体素,块里的其他"
                         "体素都不起作用。比块还窄的结构(小肿瘤、细边缘)如果没有落在这些体素上,就会从粗目标中消失。"
                         "粗目标的中间切片也是另一个平面:沿 z 缩小 8 倍的目标的第 k 层是全分辨率的第 8k + 4 层,所以它的 10 层"
                         "中的中间一层是 80 层中的第 44 层,而不是第 40 层。在 V2 中最小的目标对应权重为 0 的输出,所以"
                         "它不参与训练。"},),
        terms=("ds",),
        blog="5", v1_call="nnUNetTrainerV2.initialize"),
    "loss": WhyEntry(
        title={"en": "Dice + cross-entropy loss", "zh": "Dice + 交叉熵损失"},
        fact={"en": "``DC_and_CE_loss`` = CE + (-soft Dice), weights 1 and 1, Dice without background, smooth "
                    "1e-5, wrapped by ``MultipleOutputLoss2`` with the deep-supervision weights. ``batch_dice`` "
                    "False (sample Dice): one Dice per sample and class, averaged; True: the batch's voxels are "
                    "summed first, one Dice per class.",
              "zh": "``DC_and_CE_loss`` = CE + (-soft Dice),两者权重都为 1,Dice 不含背景,smooth 为 1e-5,再由 "
                    "``MultipleOutputLoss2`` 按深度监督权重包装。``batch_dice`` 为 False(样本 Dice):每个样本、"
                    "每个类别一个 Dice,再求平均;为 True:先把整个 batch 的体素相加,每个类别一个 Dice。"},
        rationale={"en": "The paper uses the sum of Dice and cross-entropy for every dataset. Our reading: Dice "
                         "measures overlap per class, so a small tumour counts as much as a large organ (background "
                         "is left out); cross-entropy gives smooth per-voxel gradients from the first iteration. "
                         "For training, sample Dice makes every patch count equally, even one with a tiny structure, while batch "
                         "Dice is steadier when samples lack a class.",
                   "zh": "论文对所有数据集都使用 Dice 与交叉熵之和。我们的理解:Dice 按类别衡量重叠,所以很小的肿瘤和"
                         "大的器官同样重要(背景不计入);交叉熵从第一次迭代起就给出平滑的逐体素梯度。对训练而言,样本 Dice 让每个 "
                         "patch 同等重要,即使它只含一个很小的结构;而当样本缺少某个类别时,批 Dice 更稳定。"},
        terms=("sample-dice", "ds"),
        blog="5", v1_call="DC_and_CE_loss, MultipleOutputLoss2"),
    "dataset": WhyEntry(
        title={"en": "the preprocessed cases", "zh": "预处理后的病例"},
        fact={"en": "``load_dataset`` lists the ``.npz`` cases of ``<data_identifier>_stage<k>``; "
                    "``unpack_dataset`` writes a ``.npy`` next to each (unless ``--use_compressed_data``), and "
                    "the loaders open them with ``np.load(..., mmap_mode='r')``. v1 does the unpacking after "
                    "building the loaders.",
              "zh": "``load_dataset`` 列出 ``<data_identifier>_stage<k>`` 中的 ``.npz`` 病例;``unpack_dataset`` 在"
                    "每个旁边写一个 ``.npy``(除非给出 ``--use_compressed_data``),加载器用 "
                    "``np.load(..., mmap_mode='r')`` 打开它们。v1 在构建加载器之后才解压。"},
        rationale={"en": "A memory-mapped ``.npy`` lets the loader read only the patch it cuts, while an ``.npz`` "
                         "must be decompressed whole for every patch; v1's message for compressed data warns that "
                         "training \"may be slow\". Disk space is traded for speed.",
                   "zh": "内存映射的 ``.npy`` 让加载器只读取它要切的 patch,而 ``.npz`` 每切一个 patch 都要整体解压;v1 "
                         "对压缩数据的提示警告训练“可能会很慢”。这是用磁盘空间换速度。"},
        terms=("data-identifier", "stage"),
        blog="5", v1_call="load_dataset, unpack_dataset"),
    "split": WhyEntry(
        title={"en": "the cross-validation fold", "zh": "交叉验证的折"},
        fact={"en": "On first use v1 sorts the case names, splits them with ``KFold(n_splits=5, shuffle=True, "
                    "random_state=12345)`` and saves ``splits_final.pkl``; later runs reuse the file (your own "
                    "file is used as is). Fold 'all' trains and validates on every case.",
              "zh": "第一次使用时,v1 对病例名排序,用 ``KFold(n_splits=5, shuffle=True, random_state=12345)`` 划分,"
                    "并保存 ``splits_final.pkl``;之后的训练复用这个文件(你自己提供的文件也会原样使用)。fold 'all' "
                    "用所有病例训练并验证。"},
        rationale={"en": "The paper uses the 5-fold cross-validation to choose among 2d, 3d_fullres, the cascade "
                         "and their ensembles, and to pick the postprocessing; the 5 fold models are then "
                         "ensembled for the test set. A fixed seed and sorted names make the folds depend only on "
                         "the case names, so every configuration is validated on the same cases.",
                   "zh": "论文用 5 折交叉验证在 2d、3d_fullres、级联及它们的集成之间做选择,并选择后处理;随后把 5 折的"
                         "模型集成起来预测测试集。固定的种子和排序后的病例名使划分只依赖于病例名,所以每个配置都在同样的"
                         "病例上验证。"},
        pitfalls=(_FOLD_PITFALL,),
        terms=("fold", "postprocessing"),
        blog="5", v1_call="nnUNetTrainerV2.do_split"),
    "dataloader": WhyEntry(
        title={"en": "the training loader", "zh": "训练数据加载器"},
        fact={"en": "``DataLoader3D`` picks ``batch_size`` random training cases and cuts a "
                    "``basic_generator_patch_size`` patch from each (for 2d, ``DataLoader2D`` cuts it from a random "
                    "slice, for an oversampled sample a slice that holds the chosen class). The samples with index >= "
                    "``round(batch_size * (1 - 0.33))`` are centred on a random voxel of a random foreground class "
                    "present in the case; the others are placed at random. Outside the case the image is padded "
                    "with 0 and the segmentation with -1.",
              "zh": "``DataLoader3D`` 随机选取 ``batch_size`` 个训练病例,从每个病例中切出 "
                    "``basic_generator_patch_size`` 大小的 patch(2d 时由 ``DataLoader2D`` 从一个随机切片中切出,"
                    "对强制包含前景的样本则取含有所选类别的切片)。索引 >= ``round(batch_size * (1 - 0.33))`` 的样本以"
                    "病例中某个随机前景类别的随机体素为中心;其余样本的位置完全随机。病例之外,图像用 0 填充,分割用 "
                    "-1 填充。"},
        rationale={"en": "The paper: to counter class imbalance, a third of the samples are guaranteed to contain "
                         "foreground, the rest come from random locations. Our reading: a tumour may fill well "
                         "under 1 % of a CT, so purely random patches would mostly show background; random patches are still "
                         "kept so the network also learns what is not foreground.",
                   "zh": "论文:为缓解类别不平衡,三分之一的样本保证包含前景,其余来自随机位置。我们的理解:肿瘤可能只占 CT 的远不到 "
                         "1 %,完全随机的 patch 大多只有背景;保留随机 patch,是为了让网络也学会哪些区域不是前景。"},
        pitfalls=(_OVERSAMPLE_PITFALL,),
        terms=("oversampling", "patch"),
        blog="5", v1_call="nnUNetTrainer.get_basic_generators"),
    # ------------------------------------------------------------------------------------- 6 Generic_UNet
    "network": WhyEntry(
        title={"en": "the network (Generic_UNet)", "zh": "网络(Generic_UNet)"},
        fact={"en": "V2's ``initialize_network`` passes ``nn.Conv3d``, ``nn.InstanceNorm3d`` (eps 1e-5, affine), "
                    "``nn.Dropout3d`` with p = 0, ``nn.LeakyReLU`` (negative slope 0.01), deep supervision on, an "
                    "identity final nonlinearity, He initialisation (a = 0.01), and ``convolutional_pooling`` and "
                    "``convolutional_upsampling`` True: strided convolutions down, transposed convolutions up. "
                    "Features start at 32 and double per level up to 320 (3D).",
              "zh": "V2 的 ``initialize_network`` 传入 ``nn.Conv3d``、``nn.InstanceNorm3d``(eps 1e-5,affine)、p = 0 "
                    "的 ``nn.Dropout3d``、``nn.LeakyReLU``(负斜率 0.01)、开启深度监督、恒等的最终非线性、He 初始化"
                    "(a = 0.01),并且 ``convolutional_pooling`` 和 ``convolutional_upsampling`` 为 True:下采样用"
                    "带步长的卷积,上采样用转置卷积。特征数从 32 开始,每层翻倍,最多 320(3D)。"},
        rationale={"en": "The paper: a plain U-Net, well configured, beats most architectural novelties; the "
                         "template uses only convolutions, instance normalisation and leaky ReLU, and the authors "
                         "saw no substantial difference between strided/transposed convolutions and max pooling/"
                         "trilinear upsampling. Our reading: batch statistics of 2 samples are too noisy for "
                         "batch norm, which is why instance norm suits the small batches; the 320 cap bounds "
                         "memory in the deep levels.",
                   "zh": "论文:一个配置得当的普通 U-Net 胜过大多数架构上的新花样;模板只使用卷积、实例归一化和 leaky "
                         "ReLU,作者也没有看到带步长卷积/转置卷积与最大池化/三线性上采样之间有实质差别。我们的理解:"
                         "只有 2 个样本的 batch 统计量对 batch norm 来说噪声太大,所以实例归一化适合小 batch;320 的上限"
                         "限制了深层的显存。"},
        errata=({"en": "The blog's ``Generic_UNet`` argument list (``conv_op=nn.Conv2d``, ``norm_op=nn.BatchNorm2d``, "
                       "``convolutional_pooling=False``, ``convolutional_upsampling=False``) is the signature's "
                       "defaults, not what V2 builds. ``nnUNetTrainerV2.initialize_network`` passes ``nn.Conv3d``, "
                       "``nn.InstanceNorm3d``, dropout p = 0 and ``True, True`` for convolutional pooling and "
                       "upsampling (2d: ``nn.Conv2d`` with ``nn.InstanceNorm2d``, still no batch norm).",
                 "zh": "原博客列出的 ``Generic_UNet`` 参数(``conv_op=nn.Conv2d``、``norm_op=nn.BatchNorm2d``、"
                       "``convolutional_pooling=False``、``convolutional_upsampling=False``)是函数签名的默认值,"
                       "并不是 V2 实际构建的网络。``nnUNetTrainerV2.initialize_network`` 传入 ``nn.Conv3d``、"
                       "``nn.InstanceNorm3d``、p = 0 的 dropout,并对卷积池化和卷积上采样传入 ``True, True``"
                       "(2d 时为 ``nn.Conv2d`` 加 ``nn.InstanceNorm2d``,同样没有 batch norm)。"},),
        terms=("instance-norm", "ds"),
        blog="6", v1_call="nnUNetTrainerV2.initialize_network"),
    "architecture": WhyEntry(
        title={"en": "the architecture, level by level", "zh": "逐层的网络结构"},
        fact={"en": "Each level is ``conv_per_stage`` = 2 blocks of conv -> instance norm -> leaky ReLU; the first "
                    "conv of a new level has the pooling kernel as stride. The decoder upsamples with a "
                    "transposed conv, concatenates the skip connection, and every decoder level has a 1x1x1 head "
                    "without bias. For KiTS19's plans (5 poolings, the last one only in-plane) v1 builds 30,785,984 "
                    "parameters.",
              "zh": "每一层由 ``conv_per_stage`` = 2 个“卷积 -> 实例归一化 -> leaky ReLU”模块组成;新一层的第一个卷积以池化核"
                    "为步长。解码器用转置卷积上采样,拼接跳跃连接,每个解码器层有一个不带偏置的 1x1x1 输出头。对于 "
                    "KiTS19 的 plans(5 次池化,最后一次只在平面内),v1 构建的网络有 30,785,984 个参数。"},
        rationale={"en": "The topology comes from the plans, not from a fixed design (paper): the planner pools an "
                         "axis while its edge is at least 8 voxels (the bottleneck keeps at least 4) and its "
                         "spacing is below twice the finest one, so the deepest level sees almost the whole patch. "
                         "KiTS19's last pooling is in-plane only because z has shrunk to 5 voxels (80 / 16 with the "
                         "blog's patch; 96 / 16 = 6 with v1's own), while y and x still have 10 (fact of the planner).",
                   "zh": "拓扑来自 plans,而不是固定的设计(论文):只要某个轴的边长至少为 8 个体素(瓶颈层至少保留 4 个)"
                         "且其 spacing 小于最细 spacing 的两倍,规划器就沿该轴池化,所以最深的一层几乎能看到整个 patch。"
                         "KiTS19 的最后一次池化只在平面内,因为 z 已经缩小到 5 个体素(原博客的 patch 为 80 / 16;v1 自己的 "
                         "patch 为 96 / 16 = 6),而 y 和 x 还有 10 个(规划器的事实)。"},
        terms=("ds", "instance-norm", "patch"),
        blog="6", v1_call="Generic_UNet.__init__ / forward"),
    "optimizer": WhyEntry(
        title={"en": "the optimizer", "zh": "优化器"},
        fact={"en": "``torch.optim.SGD(lr=1e-2, momentum=0.99, nesterov=True, weight_decay=3e-5)`` and "
                    "``lr_scheduler = None``. The original nnUNetTrainer used Adam (3e-4) with ReduceLROnPlateau. "
                    "V2's ``on_epoch_end``: if the pseudo Dice is still 0 at epoch 100, momentum drops to 0.95 and "
                    "the weights are re-initialised.",
              "zh": "``torch.optim.SGD(lr=1e-2, momentum=0.99, nesterov=True, weight_decay=3e-5)``,"
                    "``lr_scheduler = None``。原始的 nnUNetTrainer 使用 Adam(3e-4)加 ReduceLROnPlateau。V2 的 "
                    "``on_epoch_end``:如果到第 100 个 epoch 伪 Dice 仍为 0,动量降到 0.95 并重新初始化权重。"},
        rationale={"en": "SGD with Nesterov momentum 0.99 is the paper's fixed optimizer. Our reading: with "
                         "batches of 2 every gradient is very noisy, and momentum 0.99 averages roughly the last "
                         "1 / (1 - 0.99) = 100 steps. v1's own comment admits the cost: high momentum is good "
                         "where it works but sometimes fails, hence the epoch-100 rescue.",
                   "zh": "带 Nesterov 动量 0.99 的 SGD 是论文中固定的优化器。我们的理解:batch 只有 2 时每个梯度的噪声都很大,"
                         "动量 0.99 大约相当于对最近 1 / (1 - 0.99) = 100 步做平均。v1 自己的注释承认了代价:高动量在"
                         "适用时效果好,但有时会失败,因此有第 100 个 epoch 的补救。"},
        terms=("poly-lr",),
        blog="5", v1_call="nnUNetTrainerV2.initialize_optimizer_and_scheduler"),
    "lr_schedule": WhyEntry(
        title={"en": "the poly learning rate", "zh": "poly 学习率"},
        fact={"en": "``lr = 0.01 * (1 - epoch / 1000) ** 0.9``, set by ``maybe_update_lr`` at the start of training "
                    "and after every epoch: 0.01 in epoch 0, 0.00536 in epoch 500, about 2.0e-5 in epoch 999 "
                    "(never 0). The schedule depends only on the epoch count, not on any validation result.",
              "zh": "``lr = 0.01 * (1 - epoch / 1000) ** 0.9``,由 ``maybe_update_lr`` 在训练开始时和每个 epoch 之后"
                    "设置:epoch 0 为 0.01,epoch 500 为 0.00536,epoch 999 约为 2.0e-5(永远不为 0)。学习率只依赖 "
                    "epoch 数,与任何验证结果无关。"},
        rationale={"en": "The poly schedule is part of the paper's fixed recipe. Our reading: it stays high for "
                         "most of the fixed budget (half the initial rate only after about 54 % of the epochs) "
                         "and anneals steeply at the end, so the final checkpoint is a converged one without an "
                         "early-stopping rule; and because it needs no validation signal, every dataset gets "
                         "the same schedule.",
                   "zh": "poly 调度是论文固定配方的一部分。我们的理解:在固定预算的大部分时间里学习率保持较高(大约 54 % 的 "
                         "epoch 之后才降到初始值的一半),最后急剧退火,所以无需早停规则,最终的检查点就是收敛后的结果;"
                         "而且它不需要验证信号,每个数据集都用同样的调度。"},
        pitfalls=(_CONTINUE_PITFALL,),
        terms=("poly-lr", "epoch"),
        blog="5", v1_call="poly_lr, nnUNetTrainerV2.maybe_update_lr"),
    # ------------------------------------------------------------------------------------ 7 训练过程
    "batch": WhyEntry(
        title={"en": "one augmented batch", "zh": "一个增强后的 batch"},
        fact={"en": "The moreDA transforms run in order: spatial transform (rotation, scaling, crop to the "
                    "network's patch), Gaussian noise and blur, brightness, contrast, simulated low resolution, "
                    "gamma (inverted and plain), mirroring, the mask transform (data outside the nonzero mask set "
                    "to 0 for modalities normalised with it; nothing for CT), then ``-1`` labels to 0 and the "
                    "targets downsampled for every deep-supervision output. v1 runs them in background worker "
                    "processes.",
              "zh": "moreDA 的变换依次执行:空间变换(旋转、缩放、裁剪到网络的 patch)、高斯噪声与模糊、亮度、对比度、"
                    "模拟低分辨率、gamma(反转与不反转)、镜像、掩膜变换(对用非零掩膜归一化的模态,把掩膜外的数据置 0;CT "
                    "不受影响),然后把 ``-1`` 标签改为 0,并为每个深度监督输出下采样"
                    "目标。v1 在后台工作进程中执行它们。"},
        rationale={"en": "Each transform imitates a variation real scans have: pose and size (spatial), scanner "
                         "noise and resolution, intensity differences between sites (brightness, contrast, "
                         "gamma), left/right symmetry (mirroring) (our reading of the list). The paper fixes this "
                         "set for all datasets. The worker processes prepare the next batches on the CPU while the "
                         "GPU trains, so augmentation does not stall training.",
                   "zh": "每个变换模拟真实扫描中存在的一种变化:姿态和大小(空间变换)、扫描仪噪声和分辨率、不同中心之间的"
                         "强度差异(亮度、对比度、gamma)、左右对称(镜像)(我们对这组变换的理解)。论文对所有数据集固定"
                         "这一组变换。工作进程在 CPU 上准备后续的 batch,同时 GPU 在训练,所以数据增强不会拖慢训练。"},
        terms=("moreda", "ds", "dummy-2d"),
        blog="7", v1_call="get_moreDA_augmentation"),
    "iteration": WhyEntry(
        title={"en": "one training iteration", "zh": "一次训练迭代"},
        fact={"en": "V2's ``run_iteration``: zero the gradients, forward (under autocast with fp16 on CUDA), the "
                    "deep-supervision loss, backward, (fp16 only: unscale), ``clip_grad_norm_(parameters, 12)``, "
                    "optimizer step; with online evaluation it keeps TP/FP/FN of the highest-resolution output only. Under "
                    "fp16 (``nnUNet_train``'s default) the backward is ``amp_grad_scaler.scale(l).backward()``, then "
                    "``unscale_``, the clipping, ``amp_grad_scaler.step`` and ``update``; the scaler is "
                    "``GradScaler()`` with torch's defaults (scale 2**16, halved after an overflow, doubled after "
                    "2000 clean steps).",
              "zh": "V2 的 ``run_iteration``:梯度清零,前向(在 CUDA 上用 fp16 时处于 autocast 中),计算深度监督损失,"
                    "反向传播,(仅 fp16:反缩放),``clip_grad_norm_(parameters, 12)``,优化器更新;开启在线评估时,只记录最高分辨率"
                    "输出的 TP/FP/FN。在 fp16 下(``nnUNet_train`` 的默认设置),反向传播是 "
                    "``amp_grad_scaler.scale(l).backward()``,然后是 ``unscale_``、梯度裁剪、``amp_grad_scaler.step`` "
                    "和 ``update``;scaler 是使用 torch 默认参数的 ``GradScaler()``(缩放因子 2**16,溢出后减半,"
                    "连续 2000 步无溢出后翻倍)。"},
        rationale={"en": "V2's docstring: \"gradient clipping improves training stability\". Our reading: with "
                         "momentum 0.99 one exploding gradient would be carried for about 100 steps, and clipping "
                         "bounds what any single batch can do to the weights; v1 gives no derivation for 12, an "
                         "empirical constant. Online evaluation uses the full-resolution "
                         "output because that is the segmentation one finally keeps. Loss scaling (torch's "
                         "reason): many gradients are smaller than float16's smallest normal number (6.1e-5) and "
                         "would lose their digits or become 0; the scale lifts them, and ``unscale_`` must come "
                         "before the clipping, which has to compare the true gradients' norm with 12.",
                   "zh": "V2 的 docstring:“梯度裁剪能提高训练稳定性”。我们的理解:在动量 0.99 下,一次梯度爆炸会被带上约 "
                         "100 步,裁剪限制了单个 batch 对权重的影响;v1 没有给出 12 这个值的推导,它是一个经验常数。"
                         "在线评估只用全分辨率输出,因为最终保留的就是这个分割结果。损失缩放(torch 给出的理由):很多梯度"
                         "比 float16 的最小正规数(6.1e-5)还小,会丢失有效数字甚至变成 0;缩放把它们抬上来,而 "
                         "``unscale_`` 必须在梯度裁剪之前,因为裁剪要拿真实梯度的范数和 12 比较。"},
        errata=({"en": "The blog's ``run_iteration`` is ``NetworkTrainer.run_iteration``, which has no gradient "
                       "clipping. nnUNetTrainerV2 overrides it and calls ``torch.nn.utils.clip_grad_norm_("
                       "self.network.parameters(), 12)`` after the backward pass (after ``unscale_`` in fp16) and "
                       "before the optimizer step.",
                 "zh": "原博客展示的 ``run_iteration`` 是 ``NetworkTrainer.run_iteration``,它没有梯度裁剪。nnUNetTrainerV2 "
                       "重写了它,在反向传播之后(fp16 时在 ``unscale_`` 之后)、优化器更新之前调用 "
                       "``torch.nn.utils.clip_grad_norm_(self.network.parameters(), 12)``。"},),
        pitfalls=({"en": "``fp16_used False`` on a CPU is v1's behaviour, not a fault: without CUDA, v1's "
                         "``autocast()`` and ``GradScaler()`` switch themselves off and it trains in float32 although "
                         "``--fp32`` was not given. The card's mixed-precision part is then a demonstration with "
                         "torch's CPU float16, labelled as such; on a GPU it shows the run's own GradScaler.",
                   "zh": "在 CPU 上看到 ``fp16_used False`` 是 v1 本来的行为,不是错误:没有 CUDA 时,v1 的 "
                         "``autocast()`` 和 ``GradScaler()`` 会自行关闭,即使没有给 ``--fp32`` 也用 float32 训练。"
                         "这时卡片中的混合精度部分是用 torch 的 CPU float16 做的演示,并标明了这一点;在 GPU 上它显示的是"
                         "本次训练自己的 GradScaler。"},),
        terms=("grad-clip", "mixed-precision", "loss-scaling", "ds", "online-evaluation"),
        blog="7", v1_call="nnUNetTrainerV2.run_iteration"),
    "epoch_end": WhyEntry(
        title={"en": "the end of an epoch", "zh": "一个 epoch 的结束"},
        fact={"en": "``NetworkTrainer.on_epoch_end``: ``finish_online_evaluation`` (one global Dice per class "
                    "from the TP/FP/FN summed over the epoch's 50 validation batches), ``plot_progress``, "
                    "``maybe_update_lr``, ``model_latest.model`` every 50 epochs, the moving average of the pseudo "
                    "Dice (alpha 0.9), and ``manage_patience``, which writes ``model_best.model`` when that average "
                    "improves. V2 then returns ``epoch < max_num_epochs``: it ignores patience and never stops "
                    "early.",
              "zh": "``NetworkTrainer.on_epoch_end``:``finish_online_evaluation``(用本 epoch 50 个验证 batch 累加的 "
                    "TP/FP/FN 为每个类别算一个全局 Dice)、``plot_progress``、``maybe_update_lr``、每 50 个 epoch 写"
                    "一次 ``model_latest.model``、伪 Dice 的滑动平均(alpha 0.9),以及 ``manage_patience``:平均值提高"
                    "时写出 ``model_best.model``。随后 V2 返回 ``epoch < max_num_epochs``:它忽略 patience,从不提前"
                    "停止。"},
        rationale={"en": "V2's docstring: \"overwrite patient-based early stopping. Always run to 1000 epochs\" - "
                         "the fixed budget of the paper. The pseudo Dice is noisy (patches, oversampled foreground, "
                         "no sliding window), hence the moving average; v1's log calls it \"an estimate\". "
                         "v1's comment on ``model_best``: not for validation, meant for test-set prediction only; "
                         "validation and ``nnUNet_predict`` use the final checkpoint by default.",
                   "zh": "V2 的 docstring:“覆盖基于 patience 的早停,总是训练到 1000 个 epoch”——即论文的固定预算。伪 Dice "
                         "噪声较大(基于 patch、前景过采样、没有滑动窗口),因此取滑动平均;v1 的日志称之为“估计值”。"
                         "v1 对 ``model_best`` 的注释:不要用于验证,只用于测试集预测;验证和 ``nnUNet_predict`` 默认使用最终的检查点。"},
        terms=("pseudo-dice", "online-evaluation", "checkpoint", "poly-lr"),
        blog="7", v1_call="nnUNetTrainerV2.on_epoch_end"),
    "training_epochs": WhyEntry(
        title={"en": "a few epochs of run_training", "zh": "run_training 的几个 epoch"},
        fact={"en": "``run_training`` (V2 -> nnUNetTrainer -> NetworkTrainer): per epoch 250 training iterations "
                    "in train mode, then 50 validation batches under ``torch.no_grad()`` in eval mode, the mean "
                    "losses, ``on_epoch_end``. At the end it writes ``model_final_checkpoint.model`` and deletes "
                    "``model_latest.model``; ``training_log_*.txt``, ``progress.png`` and ``debug.json`` are in the "
                    "fold folder.",
              "zh": "``run_training``(V2 -> nnUNetTrainer -> NetworkTrainer):每个 epoch 在训练模式下做 250 次训练"
                    "迭代,然后在 eval 模式、``torch.no_grad()`` 下跑 50 个验证 batch,计算平均损失,调用 "
                    "``on_epoch_end``。结束时写出 ``model_final_checkpoint.model`` 并删除 ``model_latest.model``;"
                    "``training_log_*.txt``、``progress.png`` 和 ``debug.json`` 位于该折的文件夹中。"},
        rationale={"en": "An epoch is a fixed number of iterations, not a pass over the data (v1's design), so the "
                         "schedule, the logs and the checkpoints mean the same on a dataset of 20 cases and one "
                         "of 1000. The validation loss and pseudo Dice are only a progress signal; the real "
                         "evaluation is ``validate`` on whole cases.",
                   "zh": "一个 epoch 是固定次数的迭代,而不是遍历一遍数据(v1 的设计),所以学习率调度、日志和检查点在 20 个"
                         "病例和 1000 个病例的数据集上含义相同。验证损失和伪 Dice 只是进度信号;真正的评估是在完整病例上"
                         "运行的 ``validate``。"},
        pitfalls=(_CONTINUE_PITFALL, _RESUME_ORDER_PITFALL),
        terms=("epoch", "checkpoint", "pseudo-dice"),
        blog="7", v1_call="nnUNetTrainerV2.run_training"),
    "validate": WhyEntry(
        title={"en": "validation on whole cases", "zh": "在完整病例上验证"},
        fact={"en": "``validate`` (with ``do_ds = False``) predicts every validation case with a sliding window "
                    "(step 0.5, Gaussian weighting) and mirroring, exports the NIfTI files to ``validation_raw``, "
                    "computes per-case metrics into ``summary.json``, and then ``determine_postprocessing`` tests "
                    "keeping only the largest connected component and writes ``postprocessing.json``.",
              "zh": "``validate``(``do_ds = False``)对每个验证病例用滑动窗口(步长 0.5,高斯加权)和镜像进行预测,把 "
                    "NIfTI 文件导出到 ``validation_raw``,把逐病例的指标写入 ``summary.json``,然后 "
                    "``determine_postprocessing`` 测试“只保留最大连通域”,并写出 ``postprocessing.json``。"},
        rationale={"en": "The paper judges configurations by cross-validation on whole cases, exactly as test cases "
                         "will be predicted, not by the patch-based pseudo Dice. Postprocessing is decided from "
                         "data: the largest-component rule is kept only where it raises the validation Dice (paper). "
                         "Our reading: it removes stray false positives of a single organ but would delete real "
                         "parts of structures that come in several pieces, so it cannot be fixed in advance.",
                   "zh": "论文用完整病例上的交叉验证来评判各个配置,预测方式与测试病例完全相同,而不是用基于 patch 的伪 Dice。"
                         "后处理由数据决定:只有在提高验证 Dice 时才采用最大连通域规则(论文)。我们的理解:对只由一个连通部分构成的"
                         "器官,它能去掉零散的假阳性,却会删掉由多个部分组成的结构中真实的部分,所以无法事先固定。"},
        terms=("sliding-window", "tta", "postprocessing", "fold"),
        blog="7", v1_call="nnUNetTrainerV2.validate"),
    "prediction": WhyEntry(
        title={"en": "predicting a new case", "zh": "预测新病例"},
        fact={"en": "``nnUNet_predict`` preprocesses the case as planned (crop, resample, normalise), loads "
                    "``model_final_checkpoint`` of every fold found, predicts with sliding window and mirroring "
                    "along the trainer's axes (nnUNetTrainerV2: 8 flips in 3D, 4 in 2D; a trainer trained without "
                    "mirroring refuses it), averages the softmax over the folds, resamples back, takes the "
                    "argmax and applies the model folder's ``postprocessing.json`` (written by "
                    "``consolidate_folds``, not the per-fold file ``validate`` writes); without it v1 warns and "
                    "skips postprocessing.",
              "zh": "``nnUNet_predict`` 按 plans 对病例做预处理(裁剪、重采样、归一化),加载找到的每一折的 "
                    "``model_final_checkpoint``,用滑动窗口和沿 trainer 的轴的镜像(nnUNetTrainerV2:3D 8 种翻转,2D 4 种;"
                    "训练时没有做镜像的 trainer 会拒绝镜像)预测,对各折的 softmax "
                    "求平均,重采样回原始空间,取 argmax,并应用模型文件夹中的 ``postprocessing.json``(由 ``consolidate_folds`` 写出,"
                    "而不是 ``validate`` 在每一折中写出的文件);没有这个文件时 v1 给出警告并跳过后处理。"},
        rationale={"en": "The paper ensembles the 5 cross-validation models for test cases and uses mirroring as "
                         "test-time augmentation. Our reading: averaging softmax over 5 networks and 8 flips "
                         "cancels much of each prediction's orientation- and seed-dependent error; mirroring is "
                         "safe because the networks were trained with mirroring augmentation.",
                   "zh": "论文对测试病例集成 5 个交叉验证模型,并把镜像用作测试时增强。我们的理解:在 5 个网络和 8 种翻转上"
                         "平均 softmax,可以抵消每次预测中与方向和随机种子有关的大部分误差;镜像是安全的,因为网络训练时"
                         "用过镜像增强。"},
        terms=("tta", "sliding-window", "postprocessing", "fold"),
        blog="beyond", v1_call="nnunet.inference.predict.predict_from_folder"),
}


def glossary_links(keys: tuple[str, ...], language: str | None = None, base: str = "") -> tuple[GlossaryLink, ...]:
    """Links to the glossary entries ``keys``: ``base + "#gl-<key>"`` with the definition as tooltip."""
    from .language import get_language
    from ..explore.notes import inline_text

    lang = language or get_language()
    return tuple(GlossaryLink(term(k).label(lang), f"{base}#{term(k).anchor}", inline_text(term(k).definition(lang)))
                 for k in keys)


def step_notes(name: str, language: str | None = None, result: object = None,
               docstring: str | None = None) -> StepNotes | None:
    """The card notes of step ``name`` in ``language`` (default: the language in effect); None if no entry.

    With the step's recorded ``result``, the notes also cite the run (:mod:`.run_notes`): the plans compared
    with v1's planner, v1's printed block line by line, the fold's ``debug.json``. In Chinese the notes carry the
    step's docstring in Chinese too (``doc``), if its translation was written for ``docstring`` (the step's
    English docstring, when given): a card never shows a stale translation.
    """
    from .language import get_language
    from .run_notes import run_notes
    from .step_docs import step_doc_zh

    entry = WHY.get(name)
    if entry is None:
        return None
    lang = language or get_language()
    why = (Note("fact", pick(HEADINGS["fact"], lang), pick(entry.fact, lang)),
           Note("rationale", pick(HEADINGS["rationale"], lang), pick(entry.rationale, lang)))
    boxes = tuple(Note("pitfall", pick(HEADINGS["pitfall"], lang), pick(p, lang)) for p in entry.pitfalls)
    boxes += tuple(Note("erratum", pick(HEADINGS["erratum"], lang), pick(e, lang)) for e in entry.errata)
    run_boxes, tables = run_notes(name, result, lang) if result is not None else ((), ())
    return StepNotes(pick(entry.title, lang), why, run_boxes + boxes, glossary_links(entry.terms, lang),
                     why_heading=pick(HEADINGS["why"], lang), links_heading=pick(HEADINGS["terms"], lang),
                     tables=tables, doc=step_doc_zh(name, docstring) if lang == "zh" else "")


def why_of(name: str, docstring: str | None = None):
    """A step's ``why`` for :meth:`Pipeline.annotate`: a function drawing the notes in the language of the moment
    (and, given the step's result, with the notes on that run; with ``docstring``, the step's English docstring,
    whose Chinese translation the notes then carry)."""
    def notes(result: object = None) -> StepNotes | None:
        return step_notes(name, result=result, docstring=docstring)

    notes.__name__ = f"why_{name}"
    return notes


__all__ = ["HEADINGS", "WHY", "WhyEntry", "glossary_links", "step_notes", "why_of"]
