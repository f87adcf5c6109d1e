"""What a self-hoster gets: the package `pip install .` builds, and the Procfile, Dockerfile and compose.yaml that
run it.

No Docker engine runs here, so the container files are checked for what can be checked without one: the paths they
copy exist, what they install, the user they run as, and that they run the README's command.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

from bot.config import Settings
from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES
from bot_harness import REPO, selfie

RUN_COMMAND = "python -m bot"
LEFT_OUT_OF_THE_COPY = shutil.ignore_patterns(".git", ".venv", "data", "runs", "build", "__pycache__", "*.egg-info",
                                              ".pytest_cache", "emotion_float.tflite")


def readme_commands(heading: str) -> str:
    """The command in the README's first ```sh block after the line starting with `heading`."""
    readme = (REPO / "README.md").read_text()
    return re.search(re.escape(heading) + r".*?```sh\n(.*?)\n```", readme, re.S).group(1)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, comments and continuation lines joined."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def yaml_mapping(text: str) -> dict[str, str]:
    """A YAML mapping's top-level keys, each with its inline value or else the text indented under it (dedented)."""
    values: dict[str, list[str]] = {}
    key = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith(" "):
            values[key].append(line)
        else:
            key, inline = (part.strip() for part in line.split(":", 1))
            values[key] = [inline] if inline else []
    return {key: textwrap.dedent("\n".join(lines)) for key, lines in values.items()}


def test_procfile_runs_the_readme_command_as_web_and_worker():
    processes = dict(line.split(":", 1) for line in (REPO / "Procfile").read_text().splitlines() if line.strip())
    assert {kind: command.strip() for kind, command in processes.items()} == {"web": RUN_COMMAND,
                                                                             "worker": RUN_COMMAND}
    assert readme_commands("Run the bot").endswith(f".venv/bin/{RUN_COMMAND}")
    settings = Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x", "WEBHOOK_URL": "https://bot.example/hook",
                                  "PORT": "5123"})
    assert settings.port == 5123, "a web process listens where the platform says"


def test_ci_runs_the_readme_test_command_verbatim():
    ci_script = (REPO / ".ci" / "run").read_text()
    assert readme_commands("Run the linter and all tests").strip() in ci_script.splitlines()


def test_the_default_database_is_in_the_working_directory_not_in_the_package():
    assert Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x"}).database == Path("data/moodtunes.sqlite3")


def test_the_dockerfile_runs_the_readme_command_as_a_user_on_the_runtime_requirements():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    copied = [arguments.split()[:-1] for kind, arguments in instructions if kind == "COPY"]
    for sources in copied:
        for source in sources:
            assert (REPO / source).exists(), f"the Dockerfile copies {source}, which is not in the repository"
    assert ["model/"] in copied, "the model is baked in"
    installs = [arguments for kind, arguments in instructions if kind == "RUN" and "pip install" in arguments]
    assert any("-r requirements.txt" in command for command in installs)
    assert not any(re.search(r"\[|train|dev|pytest", command) for command in installs), "runtime only, no extras"

    users = [arguments for kind, arguments in instructions if kind == "USER"]
    assert users and users[-1] not in ("root", "0")
    kinds = [kind for kind, _ in instructions]
    assert kinds.index("USER") < kinds.index("CMD")
    environment = " ".join(arguments for kind, arguments in instructions if kind == "ENV")
    assert "DATABASE_PATH=/data/moodtunes.sqlite3" in environment and ("VOLUME", "/data") in instructions
    cmd, = [arguments for kind, arguments in instructions if kind == "CMD"]
    assert " ".join(json.loads(cmd)) == RUN_COMMAND


def test_compose_runs_the_bot_on_postgres_with_a_named_volume():
    compose = yaml_mapping((REPO / "compose.yaml").read_text())
    services = yaml_mapping(compose["services"])
    bot, postgres = yaml_mapping(services["bot"]), yaml_mapping(services["postgres"])
    assert bot["build"] == "." and postgres["image"] == "postgres:16"
    settings, bot_environment = yaml_mapping(postgres["environment"]), yaml_mapping(bot["environment"])
    assert bot_environment["DATABASE_URL"] == (f"postgresql://{settings['POSTGRES_USER']}:"
                                               f"{settings['POSTGRES_PASSWORD']}@postgres:5432/"
                                               f"{settings['POSTGRES_DB']}")
    assert bot_environment["TELEGRAM_BOT_TOKEN"].startswith("${TELEGRAM_BOT_TOKEN"), "from the environment"
    volume, mount = re.fullmatch(r"- (\S+):(\S+)", postgres["volumes"]).groups()
    assert mount == "/var/lib/postgresql/data" and volume in yaml_mapping(compose["volumes"])


def test_the_package_holds_what_the_bot_runs_and_works_from_any_folder(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=LEFT_OUT_OF_THE_COPY)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(tmp_path / "wheel"), str(source)], check=True, capture_output=True, timeout=300)
    wheel, = (tmp_path / "wheel").glob("moodtunes-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    packages = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert packages == {"bot", "model", "db"}, "no tests, train or tools"
    modules = {str(path.relative_to(REPO)) for folder in packages for path in (REPO / folder).glob("*.py")}
    data_files = {"model/emotion.tflite", "model/emotion.json", "model/face_detection_short_range.tflite",
                  "model/LICENSE-blazeface.txt", "db/catalog.csv"}
    data_files |= {f"bot/locales/{language}/LC_MESSAGES/messages.mo" for language in LANGUAGES
                   if language != DEFAULT_LANGUAGE}
    assert {name for name in names if not name.startswith("moodtunes-")} == modules | data_files
    metadata = zipfile.ZipFile(wheel).read(f"{wheel.name.split('-py3')[0]}.dist-info/METADATA").decode()
    runtime = [line.split(": ", 1)[1] for line in metadata.splitlines()
               if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert not [name for name in runtime if re.match(r"(pytest|tensorflow|keras|pgserver|ruff|babel)", name, re.I)]

    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(site),
                    str(wheel)], check=True, capture_output=True, timeout=300)
    elsewhere.mkdir()
    (elsewhere / "selfie.jpg").write_bytes(selfie().jpeg)
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("TELEGRAM_", "DATABASE_", "MODEL_"))}
    environment["PYTHONPATH"] = str(site)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], cwd=elsewhere, env=environment, capture_output=True, text=True,
                              timeout=120)

    where = run("-c", "import bot.app, db, model; print(bot.__file__, db.__file__, model.__file__)")
    assert where.returncode == 0, where.stderr
    assert all(Path(path).is_relative_to(site) for path in where.stdout.split())
    every_module = sorted(name.removesuffix(".py").replace("/", ".").removesuffix(".__init__") for name in modules)
    imported = run("-c", f"import importlib, sys; [importlib.import_module(name) for name in {every_module}]; "
                         "print(*{name.split('.')[0] for name in sys.modules})")
    assert imported.returncode == 0, imported.stderr
    development = {"babel", "tensorflow", "keras", "pytest"} & set(imported.stdout.split())
    assert not development, f"the runtime packages import {development}"
    suggested = run("-m", "bot", "suggest", "selfie.jpg", "--json")
    assert suggested.returncode == 0, suggested.stderr
    assert 3 <= len(json.loads(suggested.stdout)["songs"]) <= 5
    assert "songs from the bundled catalog" in suggested.stderr and not (elsewhere / "data").exists()
