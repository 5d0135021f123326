"""A dark theme (Fusion style, photo-editor colours) so photos stand out."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

STYLE_SHEET = """
QMainWindow, QDialog { background: #1c1d21; }
QLabel#sectionTitle { color: #8b8d94; font-size: 11px; font-weight: bold; letter-spacing: 1px; }
QLabel#hint { color: #8b8d94; }
QLabel#photoHeader { font-size: 13px; }
QLabel#captionInfo { color: #c9cbd1; }
QToolButton#modelChip, QToolButton#humanChip { border-radius: 10px; padding: 2px 8px;
                                                color: #e6e7ea; }
QToolButton#modelChip { background: #2c3a4f; border: 1px solid #3e5675; }
QToolButton#humanChip { background: #244033; border: 1px solid #30a46c; }
QToolButton#modelChip:hover, QToolButton#humanChip:hover { border-color: #e5484d; }
QLineEdit#keywordEditor { background: #2a2b30; border: 1px solid #3a3c42; border-radius: 10px;
                          padding: 2px 8px; }
QListView#photoGrid { background: #17181b; border: none; }
QListView#folderList { background: transparent; border: none; }
QWidget#sidebar { background: #202125; }
QWidget#reviewPanel { background: #1c1d21; }
QListWidget#alternatives { background: #202125; border: 1px solid #2c2e33; border-radius: 4px; }
QListWidget#alternatives::item { padding: 3px 4px; }
QListWidget#alternatives::item:hover { background: #2c2e33; }
QPushButton { background: #2c2e33; border: 1px solid #3a3c42; border-radius: 5px;
              padding: 5px 12px; color: #e6e7ea; }
QPushButton:hover { background: #34363c; }
QPushButton:checked { background: #3e8ef7; border-color: #3e8ef7; color: white; }
QPushButton:disabled { color: #6b6d73; }
QPushButton#acceptButton { background: #30a46c; border-color: #30a46c; color: white;
                           font-weight: bold; }
QPushButton#acceptButton:hover { background: #3cb87b; }
QPushButton#acceptButton:disabled { background: #2c2e33; border-color: #3a3c42; color: #6b6d73; }
QLineEdit#search { background: #2a2b30; border: 1px solid #3a3c42; border-radius: 14px;
                   padding: 5px 12px; font-size: 13px; min-width: 320px; }
QLineEdit#search:focus { border-color: #3e8ef7; }
QToolBar { background: #232428; border: none; border-bottom: 1px solid #2c2e33; spacing: 6px;
           padding: 4px; }
QStatusBar { background: #232428; border-top: 1px solid #2c2e33; }
QStatusBar QLabel { color: #b4b6bc; padding: 0 6px; }
QProgressBar { background: #2a2b30; border: 1px solid #3a3c42; border-radius: 4px;
               text-align: center; color: #e6e7ea; max-height: 14px; min-width: 160px; }
QProgressBar::chunk { background: #3e8ef7; border-radius: 3px; }
QSplitter::handle { background: #2c2e33; }
QPlainTextEdit#captionEditor { font-size: 15px; background: #2a2b30; border: 1px solid #3e8ef7;
                               border-radius: 4px; }
QDialogButtonBox { dialogbuttonbox-buttons-have-icons: 0; }
QCheckBox::indicator, QRadioButton::indicator { width: 14px; height: 14px;
    border: 1px solid #7c7f87; background: #2a2b30; }
QCheckBox::indicator { border-radius: 3px; }
QRadioButton::indicator { border-radius: 8px; }
QCheckBox::indicator:checked, QRadioButton::indicator:checked { background: #3e8ef7;
    border-color: #3e8ef7; }
QCheckBox::indicator:disabled, QRadioButton::indicator:disabled { border-color: #4a4c52;
    background: #232428; }
QLineEdit, QPlainTextEdit { background: #2a2b30; border: 1px solid #3a3c42;
    border-radius: 4px; padding: 3px 6px; }
QLineEdit:focus { border-color: #3e8ef7; }
QTableView { background: #202125; alternate-background-color: #26272c; gridline-color: #2c2e33; }
QHeaderView::section { background: #2c2e33; color: #b4b6bc; border: none; padding: 4px 6px; }
QGroupBox { border: 1px solid #2c2e33; border-radius: 6px; margin-top: 14px; padding-top: 6px; }
QGroupBox::title { subcontrol-origin: margin; left: 8px; color: #8b8d94; }
"""


def apply_theme(app: QApplication) -> None:
    """Use Fusion with a dark palette and the app's style sheet."""
    app.setStyle(QStyleFactory.create("Fusion"))
    pal = QPalette()
    colours = {
        QPalette.ColorRole.Window: "#1c1d21",
        QPalette.ColorRole.WindowText: "#e6e7ea",
        QPalette.ColorRole.Base: "#202125",
        QPalette.ColorRole.AlternateBase: "#26272c",
        QPalette.ColorRole.ToolTipBase: "#2c2e33",
        QPalette.ColorRole.ToolTipText: "#e6e7ea",
        QPalette.ColorRole.Text: "#e6e7ea",
        QPalette.ColorRole.Button: "#2c2e33",
        QPalette.ColorRole.ButtonText: "#e6e7ea",
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: "#3e8ef7",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#6aa8ff",
        QPalette.ColorRole.PlaceholderText: "#7c7f87",
    }
    for role, colour in colours.items():
        pal.setColor(role, QColor(colour))
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
        QPalette.ColorRole.WindowText,
    ):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b6d73"))
    app.setPalette(pal)
    app.setStyleSheet(STYLE_SHEET)
