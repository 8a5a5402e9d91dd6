"""Interface strings of the browser app in Chinese (default) and English.

>>> t("app_title")
'网格规划'
>>> t("app_title", "en")
'Grid planning'
>>> t("moved_n", "en", n=3, grid="G01")
'Moved 3 building(s) to G01'

Missing English strings fall back to Chinese; a missing key returns the key itself (so a typo
shows up in the interface instead of crashing it).
"""
from __future__ import annotations

LANGS: dict[str, str] = {"zh": "中文", "en": "English"}
DEFAULT_LANG = "zh"

STRINGS: dict[str, dict[str, str]] = {
    # --- frame and pages
    "app_title": {"zh": "网格规划", "en": "Grid planning"},
    "app_caption": {"zh": "社区网格划分与15分钟红色服务圈", "en": "Community grids and the 15-minute red service circle"},
    "page_data": {"zh": "数据", "en": "Data"},
    "page_map": {"zh": "地图与编辑", "en": "Map & edit"},
    "page_coverage": {"zh": "服务覆盖", "en": "Coverage"},
    "page_versions": {"zh": "方案版本", "en": "Versions"},
    "page_export": {"zh": "导出", "en": "Export"},
    "language": {"zh": "语言 / Language", "en": "Language / 语言"},
    "dataset": {"zh": "数据集", "en": "Dataset"},
    "no_dataset": {"zh": "尚未载入数据。请在“数据”页载入。", "en": "No dataset loaded. Load one on the Data page."},
    "no_plan": {"zh": "尚无网格方案。请先划分网格。", "en": "No grid plan yet. Partition first."},
    "plan": {"zh": "当前方案", "en": "Current plan"},
    # --- data page
    "load_title": {"zh": "载入数据", "en": "Load a dataset"},
    "source": {"zh": "数据来源", "en": "Source"},
    "src_sample": {"zh": "示例城区（内置）", "en": "Bundled sample city"},
    "src_upload": {"zh": "上传文件", "en": "Upload files"},
    "src_path": {"zh": "本机路径（文件夹或 GeoPackage）", "en": "Path on this machine (folder or GeoPackage)"},
    "upload_help": {"zh": "图层文件：communities/compounds/buildings/roads/stations（.geojson .gpkg .fgb，Shapefile 请打包为 .zip）；每个文件不超过 {mb} MB",
                    "en": "Layer files: communities/compounds/buildings/roads/stations (.geojson .gpkg .fgb, Shapefiles zipped); at most {mb} MB each"},
    "path_label": {"zh": "路径", "en": "Path"},
    "coord_system": {"zh": "坐标系（数据采集底图）", "en": "Coordinate system (basemap the data was digitised on)"},
    "cs_wgs84": {"zh": "按文件声明（WGS 84 / CGCS2000 等）", "en": "As declared in the files (WGS 84 / CGCS2000 …)"},
    "cs_gcj02": {"zh": "高德/腾讯（GCJ-02）", "en": "Amap/Tencent (GCJ-02)"},
    "cs_bd09": {"zh": "百度（BD-09）", "en": "Baidu (BD-09)"},
    "column_map": {"zh": "列名映射（可选，每行一个：原列名=字段，如 住户=households）",
                   "en": "Column mapping (optional, one per line: header=field, e.g. HH=households)"},
    "load_button": {"zh": "载入", "en": "Load"},
    "loaded": {"zh": "已载入：{name}", "en": "Loaded: {name}"},
    "load_failed": {"zh": "数据有 {n} 个问题，未载入。请按下表修正后重试：", "en": "The dataset has {n} problem(s) and was not loaded. Fix them and try again:"},
    "load_warnings": {"zh": "载入时的提示（已自动处理）：", "en": "Notes from loading (handled automatically):"},
    "too_big": {"zh": "文件 {name} 为 {mb:.1f} MB，超过上限 {limit} MB", "en": "{name} is {mb:.1f} MB, above the {limit} MB limit"},
    "bad_file_type": {"zh": "不支持的文件类型：{name}", "en": "Unsupported file type: {name}"},
    "no_files": {"zh": "请选择要上传的文件", "en": "Choose files to upload"},
    "col_severity": {"zh": "级别", "en": "Severity"},
    "col_layer": {"zh": "图层", "en": "Layer"},
    "col_feature": {"zh": "要素", "en": "Feature"},
    "col_problem": {"zh": "问题", "en": "Problem"},
    "col_fix": {"zh": "修正方法", "en": "How to fix"},
    "sev_error": {"zh": "错误", "en": "error"},
    "sev_warning": {"zh": "警告", "en": "warning"},
    "layers_overview": {"zh": "图层概况", "en": "Layers"},
    "features": {"zh": "要素数", "en": "Features"},
    # --- rule and partition
    "rule": {"zh": "网格规模规则", "en": "Grid size rule"},
    "min_hh": {"zh": "户数下限", "en": "Min households"},
    "max_hh": {"zh": "户数上限", "en": "Max households"},
    "min_pp": {"zh": "人口下限", "en": "Min persons"},
    "max_pp": {"zh": "人口上限", "en": "Max persons"},
    "mode": {"zh": "判定方式", "en": "Mode"},
    "mode_either": {"zh": "户数或人口满足其一", "en": "households or persons"},
    "mode_households": {"zh": "仅户数", "en": "households only"},
    "mode_persons": {"zh": "仅人口", "en": "persons only"},
    "mode_both": {"zh": "户数与人口均满足", "en": "households and persons"},
    "seed": {"zh": "随机种子", "en": "Seed"},
    "code_width": {"zh": "网格序号位数", "en": "Grid serial digits"},
    "partition": {"zh": "重新划分网格", "en": "Partition again"},
    "partition_done": {"zh": "已划分：{grids} 个网格，其中 {ok} 个合规", "en": "Partitioned: {grids} grids, {ok} compliant"},
    "partitioning": {"zh": "正在划分网格…", "en": "Partitioning…"},
    # --- map page
    "community_focus": {"zh": "显示社区（楼栋详图）", "en": "Community in detail"},
    "all_communities": {"zh": "全部社区（较慢）", "en": "All communities (slower)"},
    "tool": {"zh": "地图点击", "en": "Map click"},
    "tool_select": {"zh": "选择", "en": "Select"},
    "tool_paint": {"zh": "涂刷到目标网格", "en": "Paint into target grid"},
    "tool_station": {"zh": "添加驿站", "en": "Add a station"},
    "unit": {"zh": "选取单位", "en": "Pick"},
    "unit_building": {"zh": "楼栋", "en": "Building"},
    "unit_compound": {"zh": "整个小区", "en": "Whole compound"},
    "target_grid": {"zh": "目标网格", "en": "Target grid"},
    "new_grid": {"zh": "（新网格 {code}）", "en": "(new grid {code})"},
    "selection": {"zh": "当前选择", "en": "Selection"},
    "selection_none": {"zh": "未选择。点击楼栋，或用左侧绘图工具画多边形/矩形圈选。",
                       "en": "Nothing selected. Click a building, or draw a polygon/rectangle with the draw tools."},
    "selection_info": {"zh": "{n} 栋楼，{hh} 户，{pp} 人；所在网格：{grids}", "en": "{n} building(s), {hh} households, {pp} persons; in grid(s): {grids}"},
    "move_to": {"zh": "移到目标网格", "en": "Move to target grid"},
    "clear_selection": {"zh": "清除选择", "en": "Clear selection"},
    "moved_n": {"zh": "已将 {n} 栋楼移到 {grid}", "en": "Moved {n} building(s) to {grid}"},
    "undo": {"zh": "撤销", "en": "Undo"},
    "redo": {"zh": "重做", "en": "Redo"},
    "merge": {"zh": "合并网格", "en": "Merge grids"},
    "merge_keep": {"zh": "保留网格", "en": "Keep"},
    "merge_absorb": {"zh": "并入的网格", "en": "Absorb"},
    "split": {"zh": "拆分网格", "en": "Split grid"},
    "split_parts": {"zh": "拆成几个（0 = 自动）", "en": "Parts (0 = automatic)"},
    "lock": {"zh": "锁定", "en": "Lock"},
    "unlock": {"zh": "解锁", "en": "Unlock"},
    "locked": {"zh": "已锁定", "en": "locked"},
    "reoptimise": {"zh": "重新优化社区（保留锁定网格）", "en": "Re-optimise community (keep locked grids)"},
    "grid_ops": {"zh": "网格操作", "en": "Grid operations"},
    "grid": {"zh": "网格", "en": "Grid"},
    "selected_grid": {"zh": "选中网格", "en": "Selected grid"},
    "edit_failed": {"zh": "操作未执行：{msg}", "en": "Not done: {msg}"},
    "check_ok": {"zh": "检查通过：此次修改没有使任何网格变为不合规。", "en": "Check passed: this edit made no grid non-compliant."},
    "check_broken": {"zh": "此次修改使以下网格不合规：", "en": "This edit made these grids non-compliant:"},
    "check_fixed": {"zh": "已变为合规：{grids}", "en": "Now compliant: {grids}"},
    "history": {"zh": "操作记录", "en": "History"},
    "grid_table": {"zh": "网格一览（点击一行在地图上定位）", "en": "Grids (click a row to show it on the map)"},
    "summary_grids": {"zh": "网格", "en": "Grids"},
    "summary_compliant": {"zh": "合规", "en": "Compliant"},
    "summary_contiguous": {"zh": "连续", "en": "Contiguous"},
    "summary_households": {"zh": "户数", "en": "Households"},
    "summary_coverage": {"zh": "15分钟覆盖户数", "en": "Households within 15 min"},
    "col_grid": {"zh": "网格编码", "en": "Grid code"},
    "col_community": {"zh": "社区", "en": "Community"},
    "col_households": {"zh": "户数", "en": "Households"},
    "col_persons": {"zh": "人口", "en": "Persons"},
    "col_deviation": {"zh": "户数偏差", "en": "Households vs. target"},
    "col_party": {"zh": "党员", "en": "Party members"},
    "col_buildings": {"zh": "楼栋", "en": "Buildings"},
    "col_compounds_split": {"zh": "拆分小区", "en": "Split compounds"},
    "col_pp": {"zh": "紧凑度", "en": "Compactness"},
    "col_contiguous": {"zh": "连续", "en": "Contiguous"},
    "col_compliant": {"zh": "合规", "en": "Compliant"},
    "col_status": {"zh": "状态", "en": "Status"},
    "col_reason": {"zh": "不合规原因", "en": "Why not compliant"},
    "col_coverage": {"zh": "覆盖率%", "en": "Covered %"},
    "col_locked": {"zh": "锁定", "en": "Locked"},
    "ok": {"zh": "合规", "en": "compliant"},
    "not_ok": {"zh": "不合规", "en": "not compliant"},
    "map_legend_hint": {"zh": "图层可在地图右上角开关；悬停查看详情。", "en": "Toggle layers at the top right of the map; hover for details."},
    # --- coverage
    "stations_on": {"zh": "启用的站点", "en": "Active stations"},
    "minutes": {"zh": "步行时间圈（分钟）", "en": "Walking bands (minutes)"},
    "speed": {"zh": "步行速度 km/h", "en": "Walking speed km/h"},
    "counted_kinds": {"zh": "计入覆盖的站点类型", "en": "Station kinds that count"},
    "show_isochrones": {"zh": "显示等时圈", "en": "Show walking bands"},
    "show_coverage": {"zh": "显示服务覆盖", "en": "Show coverage"},
    "added_stations": {"zh": "新增站点（假设）", "en": "Added stations (what-if)"},
    "station_added": {"zh": "已在点击处添加站点 {sid}", "en": "Added station {sid} where you clicked"},
    "clear_added": {"zh": "清除新增站点", "en": "Remove added stations"},
    "suggest": {"zh": "建议新增站点", "en": "Suggest new stations"},
    "suggest_k": {"zh": "新增站点数", "en": "New stations"},
    "suggest_button": {"zh": "计算建议站址", "en": "Find sites"},
    "suggest_add": {"zh": "采纳建议站址", "en": "Adopt the suggested sites"},
    "coverage_summary": {"zh": "覆盖 {ch} / {hh} 户（{pct}%），未覆盖楼栋 {ub} 栋，未全覆盖三无小区 {sw} 个",
                         "en": "{ch} of {hh} households covered ({pct}%), {ub} uncovered buildings, {sw} 三无 compounds not fully covered"},
    "coverage_none": {"zh": "数据缺少道路或站点图层，无法计算步行覆盖。", "en": "The dataset has no roads or stations: walking coverage is not available."},
    "by_community": {"zh": "按社区", "en": "By community"},
    "by_grid": {"zh": "按网格", "en": "By grid"},
    "by_station": {"zh": "按站点", "en": "By station"},
    "uncovered_sanwu": {"zh": "未全覆盖的三无小区", "en": "三无 compounds not fully covered"},
    "coverage_delta": {"zh": "较原有站点 {sign}{d} 户", "en": "{sign}{d} households vs. the existing stations"},
    # --- versions
    "save_version": {"zh": "保存当前方案为版本", "en": "Save the current plan as a version"},
    "version_name": {"zh": "版本名称", "en": "Version name"},
    "version_note": {"zh": "备注", "en": "Note"},
    "save": {"zh": "保存", "en": "Save"},
    "saved": {"zh": "已保存版本 {vid}：{name}", "en": "Saved version {vid}: {name}"},
    "versions": {"zh": "已保存的版本", "en": "Saved versions"},
    "no_versions": {"zh": "还没有保存的版本。", "en": "No version saved yet."},
    "project_file": {"zh": "项目文件：{path}", "en": "Project file: {path}"},
    "open_version": {"zh": "打开版本", "en": "Open version"},
    "open": {"zh": "打开", "en": "Open"},
    "opened": {"zh": "已打开版本：{name}", "en": "Opened version: {name}"},
    "compare": {"zh": "比较两个版本", "en": "Compare two versions"},
    "compare_current": {"zh": "（当前方案）", "en": "(current plan)"},
    "compare_a": {"zh": "版本 A", "en": "Version A"},
    "compare_b": {"zh": "版本 B", "en": "Version B"},
    "compare_moved": {"zh": "{n} 栋楼换了网格；{g} 个网格有变化", "en": "{n} building(s) changed grid; {g} grid(s) changed"},
    "moved_buildings": {"zh": "换网格的楼栋", "en": "Buildings that moved"},
    "changed_grids": {"zh": "变化的网格", "en": "Grids that changed"},
    "import_assignment": {"zh": "导入楼栋-网格对照表（CSV：building_id, grid_id）",
                          "en": "Import a building → grid table (CSV: building_id, grid_id)"},
    "import_button": {"zh": "导入为当前方案", "en": "Make it the current plan"},
    "imported": {"zh": "已导入 {n} 栋楼的网格划分", "en": "Imported the grids of {n} buildings"},
    "import_bad": {"zh": "对照表无法使用：{msg}", "en": "The table cannot be used: {msg}"},
    "version_mismatch": {"zh": "该版本与当前数据不一致：{msg}", "en": "This version does not match the dataset: {msg}"},
    "save_conflict": {"zh": "未保存：{msg}", "en": "Not saved: {msg}"},
    "audit_added": {"zh": "新增", "en": "added"},
    "audit_removed": {"zh": "撤销", "en": "removed"},
    "audit_changed": {"zh": "调整", "en": "changed"},
    # --- export
    "export_title": {"zh": "导出当前方案", "en": "Export the current plan"},
    "export_prepare": {"zh": "生成", "en": "Prepare"},
    "export_download": {"zh": "下载", "en": "Download"},
    "export_poster": {"zh": "挂图（PDF/PNG）", "en": "Wall poster (PDF/PNG)"},
    "export_html": {"zh": "离线交互地图（HTML）", "en": "Offline interactive map (HTML)"},
    "export_data": {"zh": "网格数据（GeoJSON / GeoPackage / Shapefile）", "en": "Grid data (GeoJSON / GeoPackage / Shapefile)"},
    "export_ledger": {"zh": "网格台账（Excel / CSV）", "en": "Grid ledger (Excel / CSV)"},
    "export_assignment": {"zh": "楼栋-网格对照表（CSV）", "en": "Building → grid table (CSV)"},
    "export_hierarchy": {"zh": "党组织层级表（街道→社区→小区→楼栋）", "en": "Party hierarchy (street → community → compound → building)"},
    "include_personal": {"zh": "包含党员人数（个人信息，仅限内部使用）", "en": "Include party-member counts (personal data, internal use only)"},
    "paper": {"zh": "纸张", "en": "Paper"},
    "orientation": {"zh": "方向", "en": "Orientation"},
    "portrait": {"zh": "纵向", "en": "portrait"},
    "landscape": {"zh": "横向", "en": "landscape"},
    "format": {"zh": "格式", "en": "Format"},
    "export_unavailable": {"zh": "此导出功能尚不可用（{what}）。", "en": "This export is not available yet ({what})."},
    "export_failed": {"zh": "导出失败：{msg}", "en": "Export failed: {msg}"},
    # --- reason codes of gridplan.metrics
    "reason_spans_communities": {"zh": "网格跨越多个社区", "en": "spans several communities"},
    "reason_not_contiguous": {"zh": "网格不连续（分成多块）", "en": "not contiguous (several pieces)"},
    "reason_building_over_bound": {"zh": "单栋楼超过上限", "en": "one building exceeds the upper bound"},
    "reason_community_too_small": {"zh": "社区总户数不足一个网格", "en": "the community is too small for one grid"},
    "reason_community_in_gap": {"zh": "社区总户数无法整分为合规网格（介于上下限之间）",
                                "en": "the community total cannot be divided into compliant grids"},
    "reason_island_too_small": {"zh": "社区飞地片区规模不足一个网格", "en": "a detached part of the community is too small"},
    "reason_too_few_households": {"zh": "户数不足", "en": "too few households"},
    "reason_too_many_households": {"zh": "户数超过上限", "en": "too many households"},
    "reason_too_few_persons": {"zh": "人口不足", "en": "too few persons"},
    "reason_too_many_persons": {"zh": "人口超过上限", "en": "too many persons"},
    "yes": {"zh": "是", "en": "yes"},
    "no": {"zh": "否", "en": "no"},
}


#: column headers of the tables the app shows (coverage tables, version lists, comparisons)
COLUMNS: dict[str, dict[str, str]] = {
    "community_id": {"zh": "社区编码", "en": "Community id"},
    "compound_id": {"zh": "小区编码", "en": "Compound id"},
    "station_id": {"zh": "站点编码", "en": "Station id"},
    "building_id": {"zh": "楼栋编码", "en": "Building id"},
    "grid_id": {"zh": "网格编码", "en": "Grid"},
    "name": {"zh": "名称", "en": "Name"},
    "kind": {"zh": "类型", "en": "Kind"},
    "buildings": {"zh": "楼栋数", "en": "Buildings"},
    "covered_buildings": {"zh": "覆盖楼栋", "en": "Covered buildings"},
    "households": {"zh": "户数", "en": "Households"},
    "covered_households": {"zh": "覆盖户数", "en": "Covered households"},
    "uncovered_households": {"zh": "未覆盖户数", "en": "Uncovered households"},
    "persons": {"zh": "人口", "en": "Persons"},
    "covered_persons": {"zh": "覆盖人口", "en": "Covered persons"},
    "pct_households": {"zh": "户数覆盖率%", "en": "Households covered %"},
    "pct_persons": {"zh": "人口覆盖率%", "en": "Persons covered %"},
    "pct_covered": {"zh": "覆盖率%", "en": "Covered %"},
    "sanwu": {"zh": "三无小区", "en": "三无"},
    "rank": {"zh": "顺序", "en": "Rank"},
    "gain_households": {"zh": "新增覆盖户数", "en": "Households gained"},
    "cum_households": {"zh": "累计新增户数", "en": "Cumulative gain"},
    "from_grid": {"zh": "原网格", "en": "From grid"},
    "to_grid": {"zh": "新网格", "en": "To grid"},
    "buildings_a": {"zh": "A 楼栋数", "en": "Buildings in A"},
    "buildings_b": {"zh": "B 楼栋数", "en": "Buildings in B"},
    "moved_out": {"zh": "移出", "en": "Moved out"},
    "moved_in": {"zh": "移入", "en": "Moved in"},
    "status": {"zh": "状态", "en": "Status"},
    "note": {"zh": "备注", "en": "Note"},
    "created": {"zh": "保存时间", "en": "Saved"},
    "user": {"zh": "用户", "en": "User"},
    "base": {"zh": "基准版本", "en": "Base version"},
    "communities_changed": {"zh": "改动的社区", "en": "Communities changed"},
    "community": {"zh": "社区", "en": "Community"},
    "households_before": {"zh": "原户数", "en": "Households before"},
    "persons_before": {"zh": "原人口", "en": "Persons before"},
    "buildings_before": {"zh": "原楼栋数", "en": "Buildings before"},
    "households_after": {"zh": "现户数", "en": "Households after"},
    "persons_after": {"zh": "现人口", "en": "Persons after"},
    "buildings_after": {"zh": "现楼栋数", "en": "Buildings after"},
    "label": {"zh": "来源操作", "en": "From step"},
    "grids": {"zh": "网格数", "en": "Grids"},
    "dataset": {"zh": "数据集", "en": "Dataset"},
    "version_id": {"zh": "版本号", "en": "Version"},
    "walk_m": {"zh": "步行距离 m", "en": "Walk (m)"},
    "walk_min": {"zh": "步行时间 min", "en": "Walk (min)"},
}

#: layer names
LAYER_NAMES: dict[str, dict[str, str]] = {
    "communities": {"zh": "社区", "en": "communities"},
    "compounds": {"zh": "小区", "en": "compounds"},
    "buildings": {"zh": "楼栋", "en": "buildings"},
    "roads": {"zh": "道路", "en": "roads"},
    "stations": {"zh": "站点", "en": "stations"},
}


def column(name: str, lang: str = DEFAULT_LANG) -> str:
    """A table header in ``lang`` (the field name itself when unknown)."""
    entry = COLUMNS.get(str(name))
    return entry.get(lang, entry["zh"]) if entry else str(name)


def layer_name(name: str, lang: str = DEFAULT_LANG) -> str:
    entry = LAYER_NAMES.get(str(name))
    if entry is None:
        return str(name)
    return entry[lang] if lang == "en" else f"{entry['zh']} ({name})"


def t(key: str, lang: str = DEFAULT_LANG, **fmt) -> str:
    """The string ``key`` in ``lang`` (Chinese when missing), formatted with ``fmt``."""
    entry = STRINGS.get(key)
    if entry is None:
        return key
    s = entry.get(lang) or entry.get(DEFAULT_LANG) or key
    return s.format(**fmt) if fmt else s


def reason(code: str, lang: str = DEFAULT_LANG) -> str:
    """The text of a :data:`gridplan.metrics.REASONS` code."""
    if not code:
        return ""
    return t(f"reason_{code}", lang) if f"reason_{code}" in STRINGS else str(code)
