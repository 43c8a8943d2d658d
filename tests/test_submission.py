"""Staging submissions: folders and archives in, a clean course-layout folder out."""

import io
import os
import tarfile
import zipfile

import pytest

from grader import submission

COURSE_FILES = ["python/needle/__init__.py", "python/needle/autograd.py", "python/needle/ops.py",
                "apps/simple_ml.py"]


def make_folder(root, files):
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def make_zip(path, files, links=()):
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        for name, target in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            archive.writestr(info, target)
    return path


def make_tar(path, files, members=()):
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in members:
            archive.addfile(info)
    return path


def staged_files(staged):
    return sorted(os.path.relpath(os.path.join(folder, name), staged.directory).replace(os.sep, "/")
                  for folder, _, names in os.walk(staged.directory) for name in names)


def test_a_full_folder_is_staged_as_submitted(tmp_path):
    source = make_folder(tmp_path / "alice", {name: f"# {name}\n" for name in COURSE_FILES})
    staged = submission.stage(str(source), tmp_path / "staged")
    assert staged.name == "alice"
    assert staged.files == {name: "submitted" for name in COURSE_FILES}
    assert staged.notes == []
    assert (tmp_path / "staged" / "python" / "needle" / "ops.py").read_text() == "# python/needle/ops.py\n"


def test_missing_course_files_come_from_the_starter_and_are_noted(tmp_path):
    source = make_folder(tmp_path / "bob", {"python/needle/ops.py": "# mine\n"})
    staged = submission.stage(str(source), tmp_path / "staged")
    assert staged.files["python/needle/ops.py"] == "submitted"
    assert staged.files["apps/simple_ml.py"] == "starter"
    assert "apps/simple_ml.py was not submitted: the 2022 starter's version was used" in staged.notes
    assert "raise NotImplementedError()" in (tmp_path / "staged" / "apps" / "simple_ml.py").read_text()


def test_only_python_sources_of_the_course_layout_are_staged(tmp_path):
    source = make_folder(tmp_path / "s", {"python/needle/ops.py": "", "python/needle/helpers.py": "",
                                          "data/train-images-idx3-ubyte.gz": "not data",
                                          "notes.txt": "", "conftest.py": "", "apps/README.md": ""})
    staged = submission.stage(str(source), tmp_path / "staged")
    assert staged_files(staged) == ["apps/simple_ml.py", "python/needle/__init__.py", "python/needle/autograd.py",
                                    "python/needle/helpers.py", "python/needle/ops.py"]


def test_the_digest_changes_with_the_contents_only(tmp_path):
    files = {name: "x = 1\n" for name in COURSE_FILES}
    first = submission.stage(str(make_folder(tmp_path / "a", files)), tmp_path / "s1")
    second = submission.stage(str(make_folder(tmp_path / "b", files)), tmp_path / "s2")
    assert first.digest == second.digest
    (tmp_path / "b" / "apps" / "simple_ml.py").write_text("x = 2\n")
    assert submission.stage(str(tmp_path / "b"), tmp_path / "s3").digest != first.digest


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
@pytest.mark.parametrize("prefix", ["", "hw1/"])
def test_archives_flat_or_nested_one_folder_deep(tmp_path, kind, prefix):
    files = {prefix + name: f"# {name}\n" for name in COURSE_FILES}
    if prefix:
        files["__MACOSX/hw1/._ops.py"] = "junk"
    path = tmp_path / f"carol.{kind}"
    (make_zip if kind == "zip" else make_tar)(path, files)
    staged = submission.stage(str(path), tmp_path / "staged")
    assert staged.name == "carol"
    assert staged.files == {name: "submitted" for name in COURSE_FILES}


@pytest.mark.parametrize("name", ["../evil.py", "/etc/evil.py", "python/../../evil.py", "C:/evil.py"])
@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_archives_with_escaping_paths_are_refused(tmp_path, kind, name):
    path = tmp_path / f"s.{kind}"
    (make_zip if kind == "zip" else make_tar)(path, {"python/needle/ops.py": "", name: ""})
    with pytest.raises(submission.SubmissionError, match="refused, it contains the unsafe path"):
        submission.stage(str(path), tmp_path / "staged")


def test_a_zip_with_a_link_is_refused(tmp_path):
    path = make_zip(tmp_path / "s.zip", {"python/needle/ops.py": ""}, links=[("apps/simple_ml.py", "/etc/passwd")])
    with pytest.raises(submission.SubmissionError, match=r"refused, it contains a link \(apps/simple_ml.py\)"):
        submission.stage(str(path), tmp_path / "staged")


@pytest.mark.parametrize("link_type", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_a_tar_with_a_link_is_refused(tmp_path, link_type):
    link = tarfile.TarInfo("apps/simple_ml.py")
    link.type, link.linkname = link_type, "/etc/passwd"
    path = make_tar(tmp_path / "s.tar.gz", {"python/needle/ops.py": ""}, members=[link])
    with pytest.raises(submission.SubmissionError, match="refused, it contains a link"):
        submission.stage(str(path), tmp_path / "staged")


def test_archives_over_the_caps_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(submission, "MAX_FILES", 3)
    path = make_zip(tmp_path / "many.zip", {f"python/needle/m{i}.py": "" for i in range(4)})
    with pytest.raises(submission.SubmissionError, match=r"refused, 4 entries \(the cap is 3\)"):
        submission.stage(str(path), tmp_path / "staged")
    monkeypatch.setattr(submission, "MAX_FILE_BYTES", 10)
    path = make_tar(tmp_path / "big.tar.gz", {"python/needle/ops.py": "x" * 11})
    with pytest.raises(submission.SubmissionError, match="ops.py is 11 bytes"):
        submission.stage(str(path), tmp_path / "staged2")


@pytest.mark.parametrize("name, content, problem", [
    ("broken.zip", b"PK\x03\x04 not really a zip", "not a readable zip archive"),
    ("broken.tar.gz", b"\x1f\x8b\x08\x00 truncated", "tar archive"),
    ("notes.txt", b"hello", "not a folder, .zip or .tar.gz"),
])
def test_unreadable_inputs_give_one_clear_error(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(submission.SubmissionError, match=problem) as error:
        submission.stage(str(path), tmp_path / "staged")
    assert str(error.value).startswith(str(path))


def test_a_missing_path_and_a_folder_without_the_layout_are_explained(tmp_path):
    with pytest.raises(submission.SubmissionError, match="no such file or folder"):
        submission.stage(str(tmp_path / "nowhere"), tmp_path / "staged")
    make_folder(tmp_path / "other", {"main.py": ""})
    with pytest.raises(submission.SubmissionError, match="is this a needle homework 1 submission"):
        submission.stage(str(tmp_path / "other"), tmp_path / "staged")


@pytest.mark.parametrize("kind", ["zip", "folder"])
def test_two_homework_folders_in_one_submission_are_named_in_one_line(tmp_path, kind):
    files = {"a/python/needle/ops.py": "", "b/apps/simple_ml.py": "", "MyDrive/hw1 copy/python/needle/ops.py": ""}
    path = make_zip(tmp_path / "s.zip", files) if kind == "zip" else make_folder(tmp_path / "s", files)
    with pytest.raises(submission.SubmissionError) as error:
        submission.stage(str(path), tmp_path / "staged")
    assert str(error.value) == (f"{path}: several homework folders in one submission: MyDrive/hw1 copy/, a/, b/; "
                                "hand in one")


def test_the_top_folder_and_a_nested_copy_are_two_homework_folders(tmp_path):
    path = make_zip(tmp_path / "s.zip", {"python/needle/ops.py": "", "old/python/needle/ops.py": ""})
    with pytest.raises(submission.SubmissionError, match=r"several homework folders in one submission: \./, old/; "):
        submission.stage(str(path), tmp_path / "staged")


DRIVE = "MyDrive/10714/hw1/"
JUNK = {"__MACOSX/MyDrive/10714/hw1/python/needle/._ops.py": "junk", "MyDrive/.DS_Store": "junk",
        "MyDrive/10714/hw1/python/needle/.ipynb_checkpoints/ops-checkpoint.py": "junk",
        "MyDrive/10714/.ipynb_checkpoints/hw1/python/needle/ops.py": "junk",
        "MyDrive/10714/hw1/.ipynb_checkpoints/apps/simple_ml-checkpoint.py": "junk",
        "MyDrive/10714/hw1/python/needle/__MACOSX/ops.py": "junk"}


@pytest.mark.parametrize("kind", ["zip", "tar.gz", "folder"])
def test_a_homework_nested_at_any_depth_is_found_and_junk_is_skipped_at_every_depth(tmp_path, kind):
    files = {DRIVE + name: f"# {name}\n" for name in COURSE_FILES}
    files.update({DRIVE + "hw1.ipynb": "{}", DRIVE + "tests/test_autograd_hw.py": "", "MyDrive/notes.txt": "", **JUNK})
    path = tmp_path / f"drive.{kind}" if kind != "folder" else tmp_path / "drive"
    {"zip": make_zip, "tar.gz": make_tar, "folder": make_folder}[kind](path, files)
    staged = submission.stage(str(path), tmp_path / "staged")
    assert staged.files == {name: "submitted" for name in COURSE_FILES}
    assert staged_files(staged) == sorted(COURSE_FILES)
    assert (tmp_path / "staged" / "python" / "needle" / "ops.py").read_text() == "# python/needle/ops.py\n"


def test_links_out_of_a_folder_are_ignored_and_links_within_are_followed(tmp_path):
    outside = tmp_path / "secret.py"
    outside.write_text("SECRET = 1\n")
    source = make_folder(tmp_path / "s", {"python/needle/ops.py": "# ops\n"})
    (source / "apps").mkdir()
    (source / "apps" / "simple_ml.py").symlink_to(outside)
    (source / "python" / "needle" / "helpers.py").symlink_to(outside)
    (source / "python" / "needle" / "__init__.py").symlink_to(source / "python" / "needle" / "gone.py")
    (source / "python" / "needle" / "autograd.py").symlink_to(source / "python" / "needle" / "ops.py")
    staged = submission.stage(str(source), tmp_path / "staged")
    assert staged.notes == [
        "python/needle/__init__.py is a link to nothing: the 2022 starter's version was used",
        "apps/simple_ml.py is a link out of the submission, which is ignored: the 2022 starter's version was used",
        "python/needle/helpers.py is a link out of the submission, which is ignored"]
    assert staged.files == {"python/needle/__init__.py": "starter", "python/needle/autograd.py": "submitted",
                            "python/needle/ops.py": "submitted", "apps/simple_ml.py": "starter"}
    assert "SECRET" not in (tmp_path / "staged" / "apps" / "simple_ml.py").read_text()
    assert not (tmp_path / "staged" / "python" / "needle" / "helpers.py").exists()
    assert (tmp_path / "staged" / "python" / "needle" / "autograd.py").read_text() == "# ops\n"


def test_an_unreadable_file_is_taken_from_the_starter_with_a_note(tmp_path):
    source = make_folder(tmp_path / "s", {name: f"# {name}\n" for name in COURSE_FILES})
    (source / "python" / "needle" / "autograd.py").chmod(0)
    if os.access(source / "python" / "needle" / "autograd.py", os.R_OK):
        pytest.skip("this process reads a file whatever its mode (root with CAP_DAC_OVERRIDE)")
    staged = submission.stage(str(source), tmp_path / "staged")
    assert staged.notes == ["python/needle/autograd.py cannot be read (Permission denied): the 2022 starter's version "
                            "was used"]
    assert staged.files["python/needle/autograd.py"] == "starter"


def test_a_zip_member_that_cannot_be_read_is_taken_from_the_starter_with_a_note(tmp_path):
    path = make_zip(tmp_path / "hw1.zip", {f"hw1/{name}": f"# {name}\n" for name in COURSE_FILES}
                    | {"hw1/notes.ipynb": '{"cells": []}', "hw1/python/needle/.ipynb_checkpoints/ops-checkpoint.py": "# old\n"})
    damaged = path.read_bytes()
    for text in (b"# python/needle/ops.py", b'{"cells": []}', b"# old"):   # a flipped bit breaks each member's CRC-32
        damaged = damaged.replace(text, text[:-1] + bytes([text[-1] ^ 1]), 1)
    path.write_bytes(damaged)
    staged = submission.stage(str(path), tmp_path / "staged")
    assert staged.notes == ["python/needle/ops.py cannot be read from the archive (Bad CRC-32 for file "
                            "'hw1/python/needle/ops.py'): the 2022 starter's version was used"]
    assert staged.files["python/needle/ops.py"] == "starter"
    assert staged.files["python/needle/autograd.py"] == "submitted"
